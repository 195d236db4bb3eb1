/* softmax_xent.h: cross-entropy of the softmax of logits, fused (matnet's SoftmaxCrossEntropy).

   L = (1/B) sum_n [log sum_j exp(s_nj) - s_n,y_n],  s = z - max(z) per row (no exp overflows);
   dL/dz = (p - onehot(y)) / B,  p = softmax(z). */
#ifndef SOFTMAX_XENT_H
#define SOFTMAX_XENT_H

/* The mean loss of z (batch, classes) against labels; writes dz (batch, classes) unless it is NULL, and adds the
   number of rows whose largest logit is the label to *correct. */
double softmax_xent(const float *z, const unsigned char *labels, int batch, int classes, float *dz, long *correct);

#endif
