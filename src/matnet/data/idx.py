"""The IDX format of the MNIST files: a header, then one array of big-endian numbers.

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions, d
    then        d sizes, each a big-endian uint32
    then        prod(sizes) values, big-endian, row-major

Files may be gzip-compressed (``.gz``); the parser looks at the bytes, not the name.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from matnet.errors import MatnetError

__all__ = ["IdxError", "parse_idx", "read_idx", "read_idx_bytes", "idx_bytes", "write_idx", "IDX_TYPES"]

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder("=").str.lstrip("<>|="): k for k, v in IDX_TYPES.items()}


class IdxError(MatnetError):
    """A file that is not a well-formed IDX file; the message says what is wrong and where."""


def parse_idx(raw: bytes, source: str = "IDX data") -> np.ndarray:
    """The array stored in ``raw`` (uncompressed IDX bytes), in native byte order."""
    if len(raw) < 4:
        raise IdxError(f"{source}: too short to be an IDX file ({len(raw)} bytes)")
    zero, code, ndim = raw[:2], raw[2], raw[3]
    if zero != b"\x00\x00" or code not in IDX_TYPES:
        raise IdxError(f"{source}: not an IDX file (magic number 0x{raw[:4].hex()}, expected 0x0000 followed by "
                       f"a type code among {', '.join(f'{c:02x}' for c in IDX_TYPES)} and the number of dimensions)")
    if ndim == 0:
        raise IdxError(f"{source}: the header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxError(f"{source}: truncated header ({len(raw)} bytes, {ndim} dimensions need {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual < expected:
        raise IdxError(f"{source}: truncated: the header says {'x'.join(map(str, shape))} values "
                       f"({expected} bytes) but only {actual} bytes follow")
    if actual > expected:
        raise IdxError(f"{source}: wrong size: {actual - expected} unexpected bytes after the "
                       f"{'x'.join(map(str, shape))} values the header declares")
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a native-order copy we own (frombuffer is read-only)


def read_idx_bytes(path: str | Path) -> bytes:
    """The uncompressed IDX bytes of a file, gzip-compressed or not."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise IdxError(f"{path}: cannot read ({err.strerror or err})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise IdxError(f"{path}: broken gzip data ({err})") from None
    return raw


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (``.gz`` or raw)."""
    return parse_idx(read_idx_bytes(path), str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (the inverse of parse_idx)."""
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str.lstrip("<>|=")
    if key not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    code = _CODES[key]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(IDX_TYPES[code], copy=False).tobytes()


def write_idx(array: np.ndarray, path: str | Path) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if the name ends in ``.gz``."""
    data = idx_bytes(array)
    path = Path(path)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
