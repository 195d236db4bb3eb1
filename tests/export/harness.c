/* Test harness for an exported model: reads N images of MATNET_INPUT_SIZE float32 from stdin (raw, native byte
   order), writes for each its N x MATNET_NUM_CLASSES probabilities (float32), then the N returned classes (int32).
   Usage: harness N < images.f32 > out.bin */
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

int main(int argc, char **argv)
{
    float image[MATNET_INPUT_SIZE];
    float *probabilities;
    int *classes;
    long n, k;
    if (argc != 2 || (n = strtol(argv[1], NULL, 10)) < 1) {
        fprintf(stderr, "usage: harness N < images.f32 > out.bin\n");
        return 2;
    }
    probabilities = malloc((size_t)n * MATNET_NUM_CLASSES * sizeof *probabilities);
    classes = malloc((size_t)n * sizeof *classes);
    if (probabilities == NULL || classes == NULL)
        return 3;
    for (k = 0; k < n; k++) {
        if (fread(image, sizeof image[0], MATNET_INPUT_SIZE, stdin) != MATNET_INPUT_SIZE) {
            fprintf(stderr, "harness: image %ld: input ends early\n", k);
            return 1;
        }
        classes[k] = matnet_predict(image, probabilities + k * MATNET_NUM_CLASSES);
    }
    fwrite(probabilities, sizeof *probabilities, (size_t)n * MATNET_NUM_CLASSES, stdout);
    fwrite(classes, sizeof *classes, (size_t)n, stdout);
    free(probabilities);
    free(classes);
    return 0;
}
