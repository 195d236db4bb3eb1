/* dense.c: the fully connected layer's forward and backward passes (see dense.h). */
#include "dense.h"
#include <stddef.h>

void dense_forward(const Dense *layer, const float *restrict x, int batch, float *restrict z)
{
    const int n_in = layer->n_in, n_out = layer->n_out;
    int n, i, j;
    for (n = 0; n < batch; n++) {
        const float *restrict xn = x + (long)n * n_in;
        float *restrict zn = z + (long)n * n_out;
        for (j = 0; j < n_out; j++)
            zn[j] = layer->b[j];
        for (i = 0; i < n_in; i++) {
            const float a = xn[i];
            const float *restrict w = layer->wt + (long)i * n_out;
            if (a == 0.0f)
                continue;
            for (j = 0; j < n_out; j++)
                zn[j] += a * w[j];
        }
    }
}

/* a . b in four running sums: with one, every addition would wait for the one before (several cycles each);
   four independent ones overlap, and the compiler can keep them in one vector register. */
static float dot(const float *restrict a, const float *restrict b, int n)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int j;
    for (j = 0; j + 4 <= n; j += 4) {
        s0 += a[j] * b[j];
        s1 += a[j + 1] * b[j + 1];
        s2 += a[j + 2] * b[j + 2];
        s3 += a[j + 3] * b[j + 3];
    }
    for (; j < n; j++)
        s0 += a[j] * b[j];
    return (s0 + s1) + (s2 + s3);
}

void dense_backward(const Dense *layer, const float *restrict x, const float *restrict dz, int batch,
                    float *restrict dx)
{
    const int n_in = layer->n_in, n_out = layer->n_out;
    int n, i, j;
    for (i = 0; i < n_in * n_out; i++)
        layer->dwt[i] = 0.0f;
    for (j = 0; j < n_out; j++)
        layer->db[j] = 0.0f;
    for (n = 0; n < batch; n++) {
        const float *restrict xn = x + (long)n * n_in, *restrict dzn = dz + (long)n * n_out;
        for (j = 0; j < n_out; j++)                       /* db = sum over the batch of dz */
            layer->db[j] += dzn[j];
        for (i = 0; i < n_in; i++) {                      /* dW^T[i] += x[n][i] * dz[n] */
            const float a = xn[i];
            float *restrict g = layer->dwt + (long)i * n_out;
            if (a == 0.0f)
                continue;
            for (j = 0; j < n_out; j++)
                g[j] += a * dzn[j];
        }
        if (dx != NULL)                                   /* dx[n][i] = dz[n] . W^T[i] */
            for (i = 0; i < n_in; i++)
                dx[(long)n * n_in + i] = dot(dzn, layer->wt + (long)i * n_out, n_out);
    }
}
