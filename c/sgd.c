/* sgd.c: one momentum step over every parameter at once (see sgd.h). */
#include "sgd.h"

void momentum_step(float *theta, const float *g, float *v, long n, float lr, float mu)
{
    long k;
    for (k = 0; k < n; k++) {
        v[k] = v[k] * mu + g[k];
        theta[k] -= v[k] * lr;
    }
}
