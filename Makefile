# `make demo` and `make test` each set up everything they need on a fresh machine (idempotent), then run.
# The virtual environment is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
# torch + torchvision: this pair lies on the project machines' disk (a CUDA build that also runs on the CPU).
# Never pair PyPI torchvision with the CPU-only torch 2.13.0 file: transformers' imports then fail.
TORCH ?= torch==2.14.1 torchvision==0.29.1

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(TORCH) -e ".[dev]"
	touch $@

.PHONY: setup demo test test-slow bench
setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/hfvid quickstart

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -q

test-slow: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -q -m slow

bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/bench_subpixel_fan.py
