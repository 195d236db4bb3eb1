"""Write MNIST from matnet's cache as the four uncompressed IDX files the C trainer reads:

    python c/write_idx.py DIR [--train-size N] [--force]

the same as `matnet data export-idx mnist DIR [--train-size N] [--force]`, which it runs (train-images-idx3-ubyte,
train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; the cache is filled by
`matnet data fetch mnist`, or on first use). It needs matnet: run it with the virtual environment's Python."""

import sys

try:
    from matnet.cli.main import main
except ImportError:
    sys.exit("write_idx.py: matnet cannot be imported: activate its virtual environment first (source "
             ".venv/bin/activate), or run `matnet data export-idx mnist DIR` (or .venv/bin/matnet data export-idx "
             "mnist DIR)")

if __name__ == "__main__":
    sys.exit(main(["data", "export-idx", "mnist", *sys.argv[1:]]))
