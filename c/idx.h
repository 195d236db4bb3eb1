/* idx.h: the IDX files MNIST comes in (uncompressed). */
#ifndef IDX_H
#define IDX_H

#include <stddef.h>

/* An IDX file of unsigned bytes: n items of size bytes each (28 x 28 = 784 for images, 1 for labels). */
typedef struct {
    unsigned char *data;
    long n;
    long size;
} Idx;

/* Read path into *out; 0 on success, else -1 after printing what is wrong. */
int idx_read(const char *path, Idx *out);
void idx_free(Idx *idx);

#endif
