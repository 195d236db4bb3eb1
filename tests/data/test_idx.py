import gzip
import hashlib
import shutil
import subprocess

import numpy as np
import pytest

from support import IN_CI
from matnet.data.datasets import KNOWN
from matnet.data.idx import IdxError, idx_bytes, parse_idx, read_idx, read_idx_bytes, write_idx


@pytest.fixture(scope="session")
def real_fashion_files(tmp_path_factory):
    """The real Fashion-MNIST IDX .gz files from Debian's package (apt-get download + dpkg -x)."""
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        if IN_CI:
            pytest.fail("apt-get/dpkg are needed for the real IDX files")
        pytest.skip("apt-get/dpkg not available")
    work = tmp_path_factory.mktemp("deb")
    done = subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=work, capture_output=True)
    if done.returncode != 0:
        if IN_CI:
            pytest.fail(f"apt-get download failed: {done.stderr.decode()[-300:]}")
        pytest.skip("cannot download dataset-fashion-mnist (run apt-get update)")
    deb = next(work.glob("*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(work / "root")], check=True)
    return work / "root/usr/share/datasets/fashion-mnist"


def test_real_files_parse_to_the_known_checksums(real_fashion_files):
    images = read_idx(real_fashion_files / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(real_fashion_files / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and set(np.unique(labels)) == set(range(10))
    expected = KNOWN["fashion-mnist"].sha256
    assert hashlib.sha256(idx_bytes(images)).hexdigest() == expected["test_images"]
    assert hashlib.sha256(idx_bytes(labels)).hexdigest() == expected["test_labels"]


def test_real_file_raw_and_gzip_read_the_same(real_fashion_files, tmp_path):
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress((real_fashion_files / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    np.testing.assert_array_equal(read_idx(raw), read_idx(real_fashion_files / "t10k-labels-idx1-ubyte.gz"))


def test_header_by_hand():
    data = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(parse_idx(data), [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip_every_type(dtype, tmp_path):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "a.gz"):
        write_idx(a, tmp_path / name)
        back = read_idx(tmp_path / name)
        assert back.dtype == dtype and back.dtype.isnative
        np.testing.assert_array_equal(back, a)


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))


@pytest.mark.parametrize("data,message", [
    (b"\x1f\x8b\x08\x00" + GOOD[4:], "not an IDX file"),          # wrong magic (a gzip header)
    (b"\x00\x00\x07\x02" + GOOD[4:], "not an IDX file"),          # unknown type code
    (GOOD[:-1], "truncated: the header says 3x4 values"),
    (GOOD + b"\x00\x01", "wrong size: 2 unexpected bytes"),
    (GOOD[:6], "truncated header"),
    (b"\x00\x00", "too short"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
])
def test_corrupted_data_gives_a_clear_error(data, message):
    with pytest.raises(IdxError, match=message):
        parse_idx(data, "f")


def test_broken_gzip_and_missing_file(tmp_path):
    bad = tmp_path / "x.gz"
    bad.write_bytes(gzip.compress(GOOD)[:20])
    with pytest.raises(IdxError, match="broken gzip"):
        read_idx_bytes(bad)
    with pytest.raises(IdxError, match="cannot read"):
        read_idx(tmp_path / "missing")


def test_truncated_real_file_is_caught(real_fashion_files, tmp_path):
    cut = tmp_path / "cut"
    cut.write_bytes(gzip.decompress((real_fashion_files / "t10k-images-idx3-ubyte.gz").read_bytes())[:100_000])
    with pytest.raises(IdxError, match="truncated: the header says 10000x28x28 values"):
        read_idx(cut)


def test_a_file_is_read_no_further_than_its_header_promises(tmp_path):
    for name, data in (("extra.gz", gzip.compress(GOOD + bytes(5000))), ("extra", GOOD + b"\x00")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(IdxError, match=f"{name}: wrong size: more bytes follow the 3x4 values the header "
                                           r"declares \(12 bytes\)"):
            read_idx(tmp_path / name)


def test_a_declared_size_over_the_limit_is_refused_before_the_data(tmp_path):
    (tmp_path / "a.gz").write_bytes(gzip.compress(GOOD))
    with pytest.raises(IdxError, match=r"a.gz: the header declares 3x4 values of 1 byte\(s\) \(12 bytes\), more than "
                                       "the 11-byte limit on one IDX file"):
        read_idx(tmp_path / "a.gz", limit=11)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz", limit=12), np.arange(12).reshape(3, 4))


def test_a_folder_or_an_empty_file_is_a_clear_error(tmp_path):
    with pytest.raises(IdxError, match="cannot read"):
        read_idx(tmp_path)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(IdxError, match=r"too short to be an IDX file \(0 bytes\)"):
        read_idx(tmp_path / "empty")
