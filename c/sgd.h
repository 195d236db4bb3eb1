/* sgd.h: stochastic gradient descent with momentum on a flat parameter vector (matnet's Momentum, PyTorch's SGD):
   v = mu v + g;  theta -= lr v. */
#ifndef SGD_H
#define SGD_H

void momentum_step(float *theta, const float *g, float *v, long n, float lr, float mu);

#endif
