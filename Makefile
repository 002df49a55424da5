PYTHON ?= .venv/bin/python
# The demo: a real reduction-ratio sweep on generated data, on CPU, in a few minutes.
DEMO = +exp=reduction_sweep model=resnet20 data=synthetic trainer=smoke trainer.device=cpu results_dir=results/demo

.PHONY: install demo test lint report bench reliability wheel-check

install:
	python3 -m venv .venv
	$(PYTHON) -m pip install --upgrade pip
	$(PYTHON) -m pip install -e ".[dev]"

demo:
	$(PYTHON) -m senet_ablate $(DEMO)

# One pytest worker per CPU (pytest-xdist): the end-to-end tests are mostly separate processes.
test:
	$(PYTHON) -m pytest -n auto

# ruff, then the layering of the package (import-linter's contracts in pyproject.toml).
lint:
	$(PYTHON) -m ruff check senet_ablate tests scripts
	$(PYTHON) -m ruff format --check senet_ablate tests scripts
	$(dir $(PYTHON))lint-imports

report:
	$(PYTHON) -m senet_ablate.report

bench:
	$(PYTHON) scripts/benchmark.py

reliability:
	$(PYTHON) scripts/reliability.py

# Build the wheel, install it into a fresh venv and run it from outside the checkout.
wheel-check:
	bash scripts/check_wheel.sh
