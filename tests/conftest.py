"""Shared fixtures: seeded generators, small IDX datasets made on the spot, the real MNIST, the demo's trained run,
a headless browser; and which tests are slow. (Helpers the tests import are in support.py.)"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from support import IN_CI, make_idx_dir


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def idx_dir(tmp_path):
    """A folder with a small 10-class dataset as the four standard IDX .gz files, and its arrays."""
    folder = tmp_path / "idx"
    return folder, make_idx_dir(folder)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty, private MATNET_CACHE."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MATNET_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST (fetched into the user's cache on first use, as `make demo` does)."""
    from matnet.data import load_dataset

    return load_dataset("mnist", progress=False)


@pytest.fixture(scope="session")
def mnist_splits(mnist):
    from matnet.data import prepare

    return prepare(mnist)


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the optional oracle (`make oracle`); in CI its absence is a failure, elsewhere a skip."""
    try:
        import torch as module
    except ImportError:
        if IN_CI:
            pytest.fail("PyTorch is missing in CI: `make test` installs it from the local CPU wheel")
        pytest.skip("PyTorch not installed (make oracle)")
    module.manual_seed(0)
    return module


@pytest.fixture(scope="session")
def default_run(tmp_path_factory, mnist):
    """The default configuration (the demo's) trained once on the real MNIST: (run folder, summary)."""
    from matnet.config import TrainConfig
    from matnet.run import train_run

    out = tmp_path_factory.mktemp("runs") / "default"
    return out, train_run(TrainConfig(out=str(out)), progress=False)


# What the browser tests' skip says when no Chromium is found (docs/contributing.md, "The browser tests").
BROWSER_MISSING = ("Debian's chromium (sudo apt install chromium; or set MATNET_CHROMIUM=/path/to/chrome): "
                   "Playwright only drives it, `python -m playwright install chromium` is not needed; "
                   "make test reports these tests as skipped (s) and passes without them")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium driven by Playwright; a skip where it is missing, a failure under CI=true."""
    executable = os.environ.get("MATNET_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if executable is None or sync_playwright is None:
        what = BROWSER_MISSING if executable is None else "playwright (make test installs it)"
        if IN_CI:
            pytest.fail(f"the browser tests need {what}")
        pytest.skip(f"browser tests skipped: install {what}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


# Long runs on the real data, marked slow as a whole: `make test` runs them, `make test-fast` leaves them out.
SLOW_FIXTURES = {"default_run",                          # trains the demo's network (30 epochs) once per session
                 "site"}                                 # builds the documentation site (tests/test_docs.py)
SLOW_FILES = {"tests/train/test_cnn_run.py"}              # CNN and ResNet runs on real MNIST


# The longest files start first, so that with several workers (make test) none is left running alone at the end.
LONGEST_FIRST = ["tests/test_readme_cli.py", "tests/train/test_cnn_run.py", "tests/serve/test_serve_browser.py"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.path.relative_to(config.rootpath).as_posix()
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or path in SLOW_FILES:
            item.add_marker(pytest.mark.slow)

    def rank(item):
        path = item.path.relative_to(config.rootpath).as_posix()
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)   # stable: the order within and among the other files stays
