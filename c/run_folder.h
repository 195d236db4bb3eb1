/* run_folder.h: the --out folder, treated as `matnet train` treats its run folder (src/matnet/runfolder.py):
   made if needed (parents too), a run already in it refused unless --force, which removes that run's files only. */
#ifndef RUN_FOLDER_H
#define RUN_FOLDER_H

/* Before any work: refuse a path that is (or lies below) a file, and a folder that holds a run (any of the files a
   run writes) unless force; under force, refuse a folder with an export of that run in it (OUT/exported), which
   would be left stale beside the new run. 0 if the run may go there, else -1 after printing what is wrong. */
int run_folder_check(const char *out, int force);

/* Make the folder (and its parents); under force first remove the old run's files, its report and its
   the .png files in figures/ (nothing else). 0 on success, else -1 after printing what went wrong. */
int run_folder_create(const char *out, int force);

#endif
