"""Each optimizer against torch.optim: same network, same batches, 25 steps, the same weights to float32 noise."""

import numpy as np
import pytest

from support import torch_twin

from matnet import build_mlp
from matnet.nn import Dense, SoftmaxCrossEntropy
from matnet.optim import SGD, Adam, AdamW, Momentum, Nesterov

CASES = {
    "sgd": (lambda: SGD(lr=0.1), lambda t, p: t.optim.SGD(p, lr=0.1)),
    "momentum": (lambda: Momentum(lr=0.05, momentum=0.9), lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9)),
    "nesterov": (lambda: Nesterov(lr=0.05, momentum=0.9),
                 lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    "adam": (lambda: Adam(lr=1e-2), lambda t, p: t.optim.Adam(p, lr=1e-2)),
    "adamw": (lambda: AdamW(lr=1e-2, weight_decay=0.1),
              lambda t, p: t.optim.AdamW([{"params": p[0::2], "weight_decay": 0.1},   # weights decay,
                                          {"params": p[1::2], "weight_decay": 0.0}],  # biases do not
                                         lr=1e-2)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_optimizer_trajectory_matches_pytorch(name, torch, rng):
    make_ours, make_theirs = CASES[name]
    model = build_mlp([20, 16, 12, 5], seed=3)
    tnet = torch_twin(model.layers, torch)
    ours = [layer for layer in model.layers if isinstance(layer, Dense)]
    theirs = [m for m in tnet if isinstance(m, torch.nn.Linear)]
    opt, topt = make_ours(), make_theirs(torch, list(tnet.parameters()))
    loss = SoftmaxCrossEntropy()
    for _ in range(25):
        x, y = rng.standard_normal((32, 20)).astype(np.float32), rng.integers(0, 5, 32)
        loss.forward(model.forward(x, training=True), y)
        model.backward(loss.backward())
        opt.step(model.parameters)
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y)).backward()
        topt.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.params["W"], b.weight.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(a.params["b"], b.bias.detach().numpy(), rtol=1e-4, atol=1e-5)
