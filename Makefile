# Two commands do all the set-up on a fresh machine:  make demo  and  make test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# PyTorch is only a test oracle and a benchmark baseline. Install the local CPU wheel, never a CUDA build.
TORCH_WHEEL ?= $(firstword $(wildcard /opt/wheels/torch-2.13.0+cpu-*.whl))

.PHONY: demo test test-fast install dev oracle bench gradcheck docs clean c

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .

dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

oracle: dev
ifneq ($(TORCH_WHEEL),)
	$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_WHEEL)"
else
	@echo "note: no PyTorch CPU wheel found (set TORCH_WHEEL=path/to/torch-2.13.0+cpu-...whl);" \
	      "the PyTorch comparisons will be skipped"
endif

demo: install
	$(BIN)/matnet data fetch mnist
	$(BIN)/matnet train --out runs/demo --force   # the demo replaces its own earlier run
	@echo "run folder: runs/demo"; cat runs/demo/summary.json
	@echo; echo "Next: activate the environment (once per shell), then try"
	@echo "  source .venv/bin/activate"
	@echo "  matnet info runs/demo               # the network, its settings and figures"
	@echo "  matnet evaluate runs/demo           # test accuracy and the confusion matrix"
	@echo "  matnet predict runs/demo examples/seven-shadow.png   # a photo of a digit (yours too: any PNG or JPEG)"
	@echo "  matnet predict --multi runs/demo examples/number-2024.png   # a written number"
	@echo "  matnet train --preset speedrun      # a CNN to 99% in about 20 s (each epoch line says the time left)"
	@echo "(or without activating: .venv/bin/matnet ...); open runs/demo/report.html in a browser"

# The suite runs on every core (pytest-xdist), a whole test file to a worker, each worker on one BLAS thread
# (several threads per worker would fight over the same cores).
PYTEST := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n auto --dist loadfile

test: oracle
	$(BIN)/ruff check src tests bench
	$(PYTEST)

test-fast: oracle  # the edit-test loop: everything but the tests marked slow (long runs on the real data)
	$(BIN)/ruff check src tests bench
	$(PYTEST) -m "not slow"

gradcheck: install
	$(BIN)/matnet gradcheck

bench: oracle
	$(BIN)/python bench/mlp_vs_torch.py

docs: dev  # the reference (API from the docstrings, CLI from --help), offline, into site/
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs site .pytest_cache src/*.egg-info

c:  # the C trainer (c/, no dependency beyond a C99 compiler): c/build/mnist-train; see the top of c/train.c
	mkdir -p c/build
	$(CC) -O3 -std=c99 -Wall -Wextra -pedantic -o c/build/mnist-train c/*.c -lm
