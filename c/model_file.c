/* model_file.c: .npy arrays in a stored zip archive (the .npz) and the .json description (see model_file.h). */
#include "model_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 64

typedef struct {
    char name[64];
    unsigned long crc, size, offset;
} Entry;

typedef struct {
    FILE *f;
    unsigned long offset;
    int count;
    Entry entries[MAX_ENTRIES];
} Zip;

static void put16(Zip *zip, unsigned value)
{
    fputc((int)(value & 0xff), zip->f);
    fputc((int)((value >> 8) & 0xff), zip->f);
    zip->offset += 2;
}

static void put32(Zip *zip, unsigned long value)
{
    put16(zip, (unsigned)(value & 0xffff));
    put16(zip, (unsigned)((value >> 16) & 0xffff));
}

static void put_bytes(Zip *zip, const void *data, size_t n)
{
    fwrite(data, 1, n, zip->f);
    zip->offset += (unsigned long)n;
}

/* CRC-32 (the zip one: polynomial 0xEDB88320, reflected), bit by bit: short, and fast enough for 0.5 MB. */
static unsigned long crc32_update(unsigned long crc, const unsigned char *p, size_t n)
{
    size_t i;
    int bit;
    crc = ~crc & 0xffffffffu;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (unsigned long)(crc & 1)));
    }
    return ~crc & 0xffffffffu;
}

/* One stored member: local header (signature, version 2.0, no flags, stored, 1980-01-01 00:00, CRC, sizes,
   name), then the bytes: head (the .npy header) followed by data. */
static void zip_add(Zip *zip, const char *name, const char *head, size_t head_len, const void *data, size_t n)
{
    Entry *e = &zip->entries[zip->count++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->crc = crc32_update(crc32_update(0, (const unsigned char *)head, head_len), data, n);
    e->size = (unsigned long)(head_len + n);
    e->offset = zip->offset;
    put32(zip, 0x04034b50u);
    put16(zip, 20), put16(zip, 0), put16(zip, 0), put16(zip, 0), put16(zip, 0x21);
    put32(zip, e->crc), put32(zip, e->size), put32(zip, e->size);
    put16(zip, (unsigned)strlen(e->name)), put16(zip, 0);
    put_bytes(zip, e->name, strlen(e->name));
    put_bytes(zip, head, head_len);
    put_bytes(zip, data, n);
}

/* The central directory (one record per member) and its end record. */
static void zip_finish(Zip *zip)
{
    unsigned long start = zip->offset, size;
    int k;
    for (k = 0; k < zip->count; k++) {
        const Entry *e = &zip->entries[k];
        put32(zip, 0x02014b50u);
        put16(zip, 20), put16(zip, 20), put16(zip, 0), put16(zip, 0), put16(zip, 0), put16(zip, 0x21);
        put32(zip, e->crc), put32(zip, e->size), put32(zip, e->size);
        put16(zip, (unsigned)strlen(e->name)), put16(zip, 0), put16(zip, 0), put16(zip, 0), put16(zip, 0);
        put32(zip, 0), put32(zip, e->offset);
        put_bytes(zip, e->name, strlen(e->name));
    }
    size = zip->offset - start;
    put32(zip, 0x06054b50u);
    put16(zip, 0), put16(zip, 0), put16(zip, (unsigned)zip->count), put16(zip, (unsigned)zip->count);
    put32(zip, size), put32(zip, start), put16(zip, 0);
}

/* A float32 array as name.npy: "\x93NUMPY", version 1.0, the header's length, then a Python dict literal padded
   with spaces to a multiple of 64 bytes and ended by a newline, then the values. */
static void add_npy(Zip *zip, const char *name, const float *values, int rows, int cols)
{
    char head[192], dict[180], member[64];   /* the padded dict: at most 117 characters and the newline */
    size_t len;
    if (cols > 0)
        sprintf(dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols);
    else
        sprintf(dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }", rows);
    len = strlen(dict);
    while ((10 + len + 1) % 64 != 0)
        dict[len++] = ' ';
    dict[len++] = '\n';
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (char)(len & 0xff);
    head[9] = (char)(len >> 8);
    memcpy(head + 10, dict, len);
    sprintf(member, "%s.npy", name);
    zip_add(zip, member, head, 10 + len, values, sizeof(float) * (size_t)rows * (size_t)(cols > 0 ? cols : 1));
}

static FILE *open_tmp(const char *path, char *tmp, size_t size)
{
    FILE *f;
    snprintf(tmp, size, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (f == NULL)
        fprintf(stderr, "%s: cannot write (does the folder exist?)\n", tmp);
    return f;
}

static int close_tmp(FILE *f, const char *tmp, const char *path)
{
    int failed = ferror(f);
    failed |= fclose(f) != 0;
    if (failed || rename(tmp, path) != 0) {
        fprintf(stderr, "%s: cannot write\n", path);
        remove(tmp);
        return -1;
    }
    return 0;
}

static int save_npz(const char *path, const Dense *layers, int n_layers)
{
    Zip zip;
    char tmp[1100], name[32];
    int l, i, j;
    zip.f = open_tmp(path, tmp, sizeof tmp);
    zip.offset = 0;
    zip.count = 0;
    if (zip.f == NULL)
        return -1;
    for (l = 0; l < n_layers; l++) {         /* W as matnet keeps it, (n_out, n_in): the transpose of wt */
        const Dense *d = &layers[l];
        float *w = malloc(sizeof(float) * (size_t)d->n_in * (size_t)d->n_out);
        if (w == NULL) {
            fclose(zip.f);
            return -1;
        }
        for (i = 0; i < d->n_in; i++)
            for (j = 0; j < d->n_out; j++)
                w[(long)j * d->n_in + i] = d->wt[(long)i * d->n_out + j];
        sprintf(name, "dense_%d.W", l + 1);
        add_npy(&zip, name, w, d->n_out, d->n_in);
        free(w);
    }
    for (l = 0; l < n_layers; l++) {
        sprintf(name, "dense_%d.b", l + 1);
        add_npy(&zip, name, layers[l].b, layers[l].n_out, 0);
    }
    zip_finish(&zip);
    return close_tmp(zip.f, tmp, path);
}

static int save_json(const char *path, const Dense *layers, int n_layers)
{
    char tmp[1100];
    FILE *f = open_tmp(path, tmp, sizeof tmp);
    int l, side = 1;
    if (f == NULL)
        return -1;
    while ((side + 1) * (side + 1) <= layers[0].n_in)
        side++;
    fprintf(f, "{\n  \"format\": \"matnet-model\",\n  \"version\": 1,\n  \"name\": \"sequential\",\n");
    fprintf(f, "  \"input_shape\": [%d],\n  \"dtype\": \"float32\",\n  \"layers\": [\n", layers[0].n_in);
    for (l = 0; l < n_layers; l++) {
        fprintf(f, "    {\"type\": \"Dense\", \"name\": \"dense_%d\", \"config\": {\"in_features\": %d, "
                   "\"out_features\": %d, \"init\": \"he_normal\"}}", l + 1, layers[l].n_in, layers[l].n_out);
        if (l < n_layers - 1)
            fprintf(f, ",\n    {\"type\": \"ReLU\", \"name\": \"relu_%d\", \"config\": {}}", l + 1);
        fprintf(f, "%s\n", l < n_layers - 1 ? "," : "");
    }
    fprintf(f, "  ],\n  \"classes\": [");
    for (l = 0; l < layers[n_layers - 1].n_out; l++)
        fprintf(f, "%s\"%d\"", l ? ", " : "", l);
    fprintf(f, "],\n  \"preprocessing\": {");
    if (side * side == layers[0].n_in)
        fprintf(f, "\"image_shape\": [%d, %d], ", side, side);
    fprintf(f, "\"scale\": \"pixel / 255\", \"flatten\": true, \"dataset\": \"mnist\"},\n");
    fprintf(f, "  \"parameters\": {");
    for (l = 0; l < n_layers; l++)
        fprintf(f, "%s\"dense_%d.W\": [%d, %d]", l ? ", " : "", l + 1, layers[l].n_out, layers[l].n_in);
    for (l = 0; l < n_layers; l++)
        fprintf(f, ", \"dense_%d.b\": [%d]", l + 1, layers[l].n_out);
    fprintf(f, "}\n}\n");
    return close_tmp(f, tmp, path);
}

int model_file_save(const char *stem, const Dense *layers, int n_layers)
{
    char path[1040];
    snprintf(path, sizeof path, "%s.npz", stem);   /* the weights first: a .json always has its weights */
    if (save_npz(path, layers, n_layers) != 0)
        return -1;
    snprintf(path, sizeof path, "%s.json", stem);
    return save_json(path, layers, n_layers);
}
