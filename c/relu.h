/* relu.h: out = max(x, 0), in place; backward dx = dout * [out > 0] (the derivative at 0 taken as 0). */
#ifndef RELU_H
#define RELU_H

void relu_forward(float *x, long n);
void relu_backward(const float *out, float *d, long n);

#endif
