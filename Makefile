# Two commands do all the set-up on a fresh machine:  make demo  and  make test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# PyTorch is only a test oracle and a benchmark baseline. Install the local CPU wheel, never a CUDA build.
TORCH_WHEEL ?= $(firstword $(wildcard /opt/wheels/torch-2.13.0+cpu-*.whl))

.PHONY: demo test install dev oracle bench gradcheck clean

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
	$(BIN)/matnet train --out runs/demo
	@echo "run folder: runs/demo"; cat runs/demo/summary.json

test: oracle
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest

gradcheck: install
	$(BIN)/matnet gradcheck

bench: oracle
	$(BIN)/python bench/mlp_vs_torch.py

clean:
	rm -rf $(VENV) runs .pytest_cache src/*.egg-info
