/* dense.h: the fully connected layer on a batch of rows, z = x W^T + b (matnet's Dense).

   W is kept transposed, wt = W^T, (n_in, n_out): every inner loop then runs along a contiguous row of n_out
   values (an "axpy", y += a * x, which the compiler vectorizes), and an input that is 0 (most MNIST pixels,
   half the ReLU outputs) skips its row. The model file stores W as matnet does, (n_out, n_in). */
#ifndef DENSE_H
#define DENSE_H

typedef struct {
    int n_in, n_out;
    float *wt, *b;      /* parameters: W^T (n_in, n_out) and b (n_out), views into the flat parameter vector */
    float *dwt, *db;    /* their gradients, the same shapes, views into the flat gradient vector */
} Dense;

/* z (batch, n_out) = x (batch, n_in) W^T + b */
void dense_forward(const Dense *layer, const float *restrict x, int batch, float *restrict z);

/* From dz = dL/dz (batch, n_out) and the forward's input x: dW = dz^T x (stored transposed), db = sum of dz's
   rows, and, unless dx is NULL (the first layer: its input is data), dx = dz W (batch, n_in). */
void dense_backward(const Dense *layer, const float *restrict x, const float *restrict dz, int batch,
                    float *restrict dx);

#endif
