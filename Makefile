# Two commands on a fresh machine:  `make demo` (quickstart on m4_hourly)  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= $(abspath ../shared/datasets)
# torch first, from a range whose newest release here is the CPU wheel: gluonts[torch] alone would pull a multi-GB CUDA build
TORCH_SPEC ?= torch>=2.10,<2.14

.PHONY: venv install install-dev lint demo test bench-samplers bench-architectures bench-speed clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv: $(BIN)/python

install: venv
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .

install-dev: venv
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev,wandb,onnx,serve,ray]"

demo: install
	GLUONTS_DIFFUSION_DATA=$(DATA) $(BIN)/python -m gluonts_diffusion.run --config configs/quickstart.yaml

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	GLUONTS_DIFFUSION_DATA=$(DATA) $(BIN)/python -m pytest -q tests

bench-samplers: install
	GLUONTS_DIFFUSION_DATA=$(DATA) $(BIN)/python evaluation/bench_samplers.py

bench-architectures: install
	GLUONTS_DIFFUSION_DATA=$(DATA) $(BIN)/python evaluation/bench_architectures.py

bench-speed: install
	GLUONTS_DIFFUSION_DATA=$(DATA) $(BIN)/python evaluation/bench_speed.py

clean:
	rm -rf $(VENV) *.egg-info lightning_logs .pytest_cache
