PYTHON ?= .venv/bin/python
# The demo: a real reduction-ratio sweep on generated data, on CPU, in a few minutes.
DEMO = +exp=reduction_sweep model=resnet20 data=synthetic trainer=smoke trainer.device=cpu results_dir=results/demo

.PHONY: install demo test lint docs report bench reliability statistics wheel-check gpu-check gpu-rehearsal gpu-wheels

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

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on a broken link or snippet.
docs:
	$(PYTHON) -m mkdocs build --strict

report:
	$(PYTHON) -m senet_ablate.report

bench:
	$(PYTHON) scripts/benchmark.py

reliability:
	$(PYTHON) scripts/reliability.py

# Every decision the report makes, simulated on the reduction table's design, today's rule beside
# the new one: error rates, power, coverage, seeds advice (results/statistics.md, minutes); then
# section 7 only, a settle sweep's error and seeds (settle_calibration.py, minutes).
statistics:
	$(PYTHON) scripts/stats_calibration.py
	$(PYTHON) scripts/settle_calibration.py

# Build the wheel, install it into a fresh venv and run it from outside the checkout.
wheel-check:
	bash scripts/check_wheel.sh

# Every CUDA path on one GPU within one short loan: <OUT>/gpu_check.md and <OUT>/benchmarks.md
# (`python scripts/gpu_check.py --help`). Without a GPU the same command is the CPU rehearsal.
OUT ?= results/gpu-check
gpu-check:
	$(PYTHON) scripts/gpu_check.py --out $(OUT)

# The GPU check's command rehearsed on this machine's CPU (a step of .ci/run): same script, same
# flags, into a temporary --out; fails where a check fails or a section outlasts its budget.
gpu-rehearsal:
	out=$$(mktemp -d) && OMP_NUM_THREADS=1 $(PYTHON) scripts/gpu_check.py --out "$$out"; status=$$?; \
		sed -n '/^| section | time |/,/^$$/p' "$$out/gpu_check.md"; rm -rf "$$out"; exit $$status

# What the GPU machine lacks (it has Python 3.12, torch, torchvision, timm, scipy, numpy and PyYAML,
# and no network), as wheels for CPython 3.12 on manylinux x86_64 in wheels/ (git-ignored, about
# 3 MB), with the dependencies pip resolves for them and setuptools to build this project there;
# pinned to the versions we test with. Not wandb (20 MB, and its dependencies would replace the
# machine's): the check never logs to it. antlr4-python3-runtime 4.9.3 is published as an sdist
# only: its (pure-Python) wheel is built here. The README gives the command that installs them there.
GPU_WHEELS = hydra-core==1.3.8 omegaconf==2.3.1 antlr4-python3-runtime==4.9.3 submitit==1.5.4 \
	hydra-submitit-launcher==1.2.0
gpu-wheels:
	rm -rf wheels && mkdir wheels
	$(PYTHON) -m pip wheel --no-deps --wheel-dir wheels antlr4-python3-runtime==4.9.3
	$(PYTHON) -m pip download --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
		--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
		--find-links wheels --dest wheels $(GPU_WHEELS) "setuptools>=77"
	printf '%s\n' $(GPU_WHEELS) > wheels/requirements.txt
	du -sh wheels
