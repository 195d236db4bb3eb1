/* idx.c: reading IDX files, the format of the MNIST files.

   bytes 0-1   0x00 0x00
   byte  2     type code: 0x08 for unsigned bytes, the only one MNIST uses (and the only one read here)
   byte  3     number of dimensions, d
   then        d sizes, each a big-endian 32-bit number
   then        the values, row-major

   The files must be uncompressed: gunzip the standard .gz files, or write them from matnet's cache with
   `matnet data export-idx mnist DIR` (matnet.data.idx.write_idx). */
#include "idx.h"

#include <stdio.h>
#include <stdlib.h>

static long read_be32(FILE *f)
{
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4)
        return -1;
    return ((long)b[0] << 24) | ((long)b[1] << 16) | ((long)b[2] << 8) | (long)b[3];
}

int idx_read(const char *path, Idx *out)
{
    FILE *f = fopen(path, "rb");
    unsigned char magic[4];
    long dims[8], total = 1;
    int d, extra;
    out->data = NULL;
    if (f == NULL) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    if (fread(magic, 1, 4, f) != 4 || magic[0] != 0 || magic[1] != 0 || magic[3] < 1 || magic[3] > 8) {
        fprintf(stderr, "%s: not an IDX file%s\n", path,
                magic[0] == 0x1f && magic[1] == 0x8b ? " (gzip-compressed: gunzip it first)" : "");
        fclose(f);
        return -1;
    }
    if (magic[2] != 0x08) {
        fprintf(stderr, "%s: IDX type 0x%02x, not unsigned bytes (0x08)\n", path, magic[2]);
        fclose(f);
        return -1;
    }
    for (d = 0; d < magic[3]; d++) {
        dims[d] = read_be32(f);
        if (dims[d] < 0 || (dims[d] > 0 && total > 512L * 1024 * 1024 / dims[d])) {
            fprintf(stderr, "%s: truncated header or sizes too large\n", path);
            fclose(f);
            return -1;
        }
        total *= dims[d];
    }
    out->n = dims[0];
    out->size = dims[0] > 0 ? total / dims[0] : 0;
    out->data = malloc(total > 0 ? (size_t)total : 1);
    if (out->data == NULL || fread(out->data, 1, (size_t)total, f) != (size_t)total) {
        fprintf(stderr, "%s: %s\n", path,
                out->data == NULL ? "out of memory" : "truncated: fewer values than the header says");
        idx_free(out);
        fclose(f);
        return -1;
    }
    extra = fgetc(f) != EOF;
    fclose(f);
    if (extra) {
        fprintf(stderr, "%s: more bytes than the header says\n", path);
        idx_free(out);
        return -1;
    }
    return 0;
}

void idx_free(Idx *idx)
{
    free(idx->data);
    idx->data = NULL;
}
