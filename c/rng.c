/* rng.c: SplitMix64 (Steele, Lea and Flood 2014): a 64-bit counter scrambled by two multiplications. */
#include "rng.h"

#include <math.h>

uint64_t rng_next(Rng *rng)
{
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

double rng_uniform(Rng *rng)
{
    return (double)(rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);   /* 53 random bits / 2^53 */
}

double rng_normal(Rng *rng)
{
    const double two_pi = 6.283185307179586;
    double u = 1.0 - rng_uniform(rng);                                    /* in (0, 1]: log(u) is finite */
    return sqrt(-2.0 * log(u)) * cos(two_pi * rng_uniform(rng));
}

void rng_permutation(Rng *rng, int *order, int n)
{
    int i;
    for (i = 0; i < n; i++)
        order[i] = i;
    for (i = n - 1; i > 0; i--) {
        int j = (int)(rng_uniform(rng) * (i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}
