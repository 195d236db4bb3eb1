/* relu.c: the rectifier, forward and backward (see relu.h). */
#include "relu.h"

void relu_forward(float *x, long n)
{
    long k;
    for (k = 0; k < n; k++)
        x[k] = x[k] > 0.0f ? x[k] : 0.0f;
}

void relu_backward(const float *out, float *d, long n)
{
    long k;
    for (k = 0; k < n; k++)
        d[k] = out[k] > 0.0f ? d[k] : 0.0f;
}
