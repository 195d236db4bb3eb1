"""matnet vs PyTorch (CPU) on the `cnn` preset's network: same layers, initial weights, batches and optimizer.

    python bench/cnn_vs_torch.py [--epochs 2]

[Conv 3x3 (32) - BatchNorm - MaxPool 2 - ReLU] -> [Conv 3x3 (64) - BatchNorm - MaxPool 2 - ReLU] -> Dense 128 -
ReLU - Dropout 0.25 -> Dense 10 (the convolutions without a bias, as in the preset; both frameworks run this
network), trained with SGD + momentum (lr 0.05) on the 50,000 MNIST training images, batch 128, each framework in
its own process: seconds per epoch (median), the ratio, test accuracy, peak memory.
"""

from __future__ import annotations

from mlp_vs_torch import MODELS, OPTIMIZERS, main


def matnet_cnn(seed):
    from matnet.architectures import build_cnn

    return build_cnn((28, 28), 10, dropout=0.25, seed=seed)


def torch_cnn(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


MODELS["cnn"] = (matnet_cnn, torch_cnn, (1, 28, 28))
OPTIMIZERS["momentum"] = {"lr": 0.05, "momentum": 0.9}   # the cnn preset's rate (this module runs the workers too)

if __name__ == "__main__":
    main("cnn", "CNN (the cnn preset)", default_epochs=2, optimizers=["momentum"])
