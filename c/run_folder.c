/* run_folder.c: the --out folder: checked before any work, made (with its parents) when training starts, an old
   run in it replaced only under --force. The file names are those of src/matnet/runfolder.py, which decides the
   same way for `matnet train`; the messages are its own, but for --resume, which the C trainer does not have. */
#define _POSIX_C_SOURCE 200809L
#include "run_folder.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define PATH_SIZE 1100

/* Every file a run writes (matnet's RunFolder._run_files): one of them makes the folder a run. */
static const char *const RUN_FILES[] = {"config.toml", "metrics.jsonl", "steps.json", "layer_stats.json",
                                        "summary.json", "checkpoint.npz", "predictions.npz", "report.html",
                                        "diagnosis.json", "model.npz", "model.json", "best.npz", "best.json"};
#define N_RUN_FILES (int)(sizeof RUN_FILES / sizeof RUN_FILES[0])
#define EXPORTED "exported"    /* where the README's `matnet export runs/c --format c -o runs/c/exported/` writes */

static int fail(const char *path, const char *message)
{
    fprintf(stderr, "mnist-train: %s%s\n", path, message);
    return -1;
}

static int join(char *buffer, const char *out, const char *name)
{
    int n = snprintf(buffer, PATH_SIZE, "%s/%s", out, name);
    return n < 0 || n >= PATH_SIZE ? fail(out, ": the path is too long") : 0;
}

static int is_run(const char *out)
{
    char path[PATH_SIZE];
    struct stat st;
    int k;
    for (k = 0; k < N_RUN_FILES; k++)
        if (join(path, out, RUN_FILES[k]) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            return 1;
    return 0;
}

int run_folder_check(const char *out, int force)
{
    char path[PATH_SIZE], *slash;
    struct stat st;
    size_t n = strlen(out);
    if (n == 0 || n >= PATH_SIZE - 100)
        return fail(out, ": --out must be a folder's path, shorter than 1000 characters");
    memcpy(path, out, n + 1);
    for (;;) {                                  /* the path, then each folder above it */
        while (n > 1 && path[n - 1] == '/')
            path[--n] = '\0';
        if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
            return fail(path, " is a file, not a folder: choose another --out");
        slash = strrchr(path, '/');
        if (slash == NULL || slash == path)
            break;
        *slash = '\0';
        n = (size_t)(slash - path);
    }
    if (!is_run(out))
        return 0;
    if (!force)
        return fail(out, " already holds a run: choose another --out, or add --force to replace it");
    if (join(path, out, EXPORTED) != 0)
        return -1;
    if (lstat(path, &st) == 0)
        return fail(path, " holds an export of the run that --force would replace: remove it first, or choose "
                          "another --out");
    return 0;
}

static int remove_file(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISDIR(st.st_mode))
        return 0;
    if (unlink(path) != 0) {
        fprintf(stderr, "mnist-train: cannot remove %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The old run's files, their temporary files (NAME.tmp) and the .png files in figures/. */
static int clear(const char *out)
{
    char path[PATH_SIZE], figures[PATH_SIZE], tmp[PATH_SIZE + 8];
    struct stat st;
    DIR *dir;
    struct dirent *entry;
    int k, status = 0;
    for (k = 0; k < N_RUN_FILES; k++) {
        if (join(path, out, RUN_FILES[k]) != 0 || remove_file(path) != 0)
            return -1;
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        if (remove_file(tmp) != 0)
            return -1;
    }
    if (join(figures, out, "figures") != 0)
        return -1;
    if (lstat(figures, &st) != 0 || !S_ISDIR(st.st_mode) || (dir = opendir(figures)) == NULL)
        return 0;
    while (status == 0 && (entry = readdir(dir)) != NULL) {
        size_t n = strlen(entry->d_name);
        if (n > 4 && strcmp(entry->d_name + n - 4, ".png") == 0)
            status = join(path, figures, entry->d_name) != 0 || remove_file(path) != 0 ? -1 : 0;
    }
    closedir(dir);
    return status;
}

int run_folder_create(const char *out, int force)
{
    char path[PATH_SIZE];
    size_t k, n = strlen(out);
    struct stat st;
    if (n >= PATH_SIZE)
        return fail(out, ": the path is too long");
    if (force && stat(out, &st) == 0 && S_ISDIR(st.st_mode) && clear(out) != 0)
        return -1;
    memcpy(path, out, n + 1);
    for (k = 1; k <= n; k++) {                  /* mkdir -p: each folder of the path in turn */
        if (path[k] != '/' && path[k] != '\0')
            continue;
        path[k] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "mnist-train: cannot make the folder %s: %s\n", path, strerror(errno));
            return -1;
        }
        path[k] = out[k];
    }
    if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(out, " is a file, not a folder: choose another --out");
    return 0;
}
