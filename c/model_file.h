/* model_file.h: the network in matnet's model format, so that `matnet evaluate`, `report` and `export` read it.

   NAME.npz   a zip archive, stored (not compressed), of one .npy file per parameter: dense_1.W (n_out, n_in),
              ..., then dense_1.b, ... (float32, little-endian)
   NAME.json  {"format": "matnet-model", "version": 1, the layers (Dense, ReLU, ..., Dense), input shape,
              class names, preprocessing, every parameter's name and shape}

   Each file is written to NAME.*.tmp first and renamed over the target, so a crash never leaves half a file. */
#ifndef MODEL_FILE_H
#define MODEL_FILE_H

#include "dense.h"

/* Write stem.npz and stem.json (stem: "runs/c/model"); 0 on success, else -1 after printing what went wrong. */
int model_file_save(const char *stem, const Dense *layers, int n_layers);

#endif
