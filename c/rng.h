/* rng.h: a small seeded random generator (SplitMix64) for the initial weights and the batch order. */
#ifndef RNG_H
#define RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
} Rng;

uint64_t rng_next(Rng *rng);
double rng_uniform(Rng *rng);                   /* in [0, 1) */
double rng_normal(Rng *rng);                    /* N(0, 1), by Box-Muller */
void rng_permutation(Rng *rng, int *order, int n);  /* 0 .. n-1 in a random order (Fisher-Yates) */

#endif
