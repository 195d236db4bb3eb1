"""Data: IDX files, datasets (fetch, verify, cache), normalisation, splits and mini-batches."""

from matnet.data.datasets import KNOWN, Dataset, cache_dir, cache_path, fetch, load_dataset
from matnet.data.idx import IdxError, parse_idx, read_idx, write_idx
from matnet.data.prepare import Splits, normalize, prepare

__all__ = ["KNOWN", "Dataset", "IdxError", "Splits", "cache_dir", "cache_path", "fetch",
           "load_dataset", "normalize", "parse_idx", "prepare", "read_idx", "write_idx"]
