/* softmax_xent.c: the loss and its gradient with respect to the logits (see softmax_xent.h). */
#include "softmax_xent.h"

#include <math.h>
#include <stddef.h>

double softmax_xent(const float *z, const unsigned char *labels, int batch, int classes, float *dz, long *correct)
{
    double total = 0.0;
    int n, j;
    for (n = 0; n < batch; n++) {
        const float *zn = z + (long)n * classes;
        float top = zn[0], sum = 0.0f;
        int best = 0;
        for (j = 1; j < classes; j++)
            if (zn[j] > top) {
                top = zn[j];
                best = j;
            }
        for (j = 0; j < classes; j++)
            sum += expf(zn[j] - top);
        total += logf(sum) - (zn[labels[n]] - top);
        *correct += best == labels[n];
        if (dz != NULL) {
            float *dzn = dz + (long)n * classes;
            for (j = 0; j < classes; j++)
                dzn[j] = expf(zn[j] - top) / sum * (1.0f / (float)batch);
            dzn[labels[n]] -= 1.0f / (float)batch;
        }
    }
    return total / batch;
}
