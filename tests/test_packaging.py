"""The package installs like one: its configs inside it, every subpackage listed, a user's own
config directory found through Hydra's search path. (`make wheel-check` installs the built
wheel into a fresh venv and runs it from outside the checkout; CI runs it.)"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import SMALL, TINY

from senet_ablate.config import CONFIG_DIR, compose_config, config_dirs
from senet_ablate.report import write_reports
from senet_ablate.report.experiments import experiment_names

REPO = Path(__file__).resolve().parent.parent
USER_EXP = """# @package _global_
defaults:
  - /sweep: rows
  - override /model: resnet20
  - override /data: synthetic

exp:
  table: reduction
  rows:
    - {label: "4", set: [se.reduction=4]}
    - {label: original, set: [se.enabled=false]}
"""


def test_every_package_is_listed_and_the_configs_ship_as_one():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "senet_ablate").rglob("__init__.py")}
    assert set(setuptools["packages"]) == found | {"senet_ablate.conf"}
    assert setuptools["package-dir"] == {"senet_ablate.conf": "conf"}
    assert CONFIG_DIR == REPO / "conf" and (CONFIG_DIR / "__init__.py").exists()  # a checkout: the same files
    assert setuptools["package-data"]["senet_ablate.conf"] == ["**/*.yaml"]


def test_a_users_config_dir_on_the_search_path_adds_experiments_that_run_and_report(tmp_path):
    (tmp_path / "myconf" / "exp").mkdir(parents=True)
    (tmp_path / "myconf" / "exp" / "my_reduction_sweep.yaml").write_text(USER_EXP)
    searchpath = f"hydra.searchpath=[file://{tmp_path}/myconf]"
    assert config_dirs([searchpath]) == [CONFIG_DIR, tmp_path / "myconf"]
    assert "my_reduction_sweep" in experiment_names([searchpath]) and "my_reduction_sweep" not in experiment_names()
    cfg = compose_config([searchpath, "+exp=my_reduction_sweep"])
    assert cfg.model.name == "resnet20" and [row.label for row in cfg.exp.rows] == ["4", "original"]
    written = write_reports(
        tmp_path / "results", tmp_path / "results", exps=["my_reduction_sweep"], overrides=[searchpath]
    )
    assert "| original | pending |" in written[0].read_text()


# Rows that each select a preset (`trainer=`), so the CLI composes each row again.
USER_PRESET_ROWS = """# @package _global_
defaults:
  - /sweep: rows
  - override /model: resnet20
  - override /data: synthetic
exp:
  reference: cosine
  rows:
    - {label: cosine, set: [trainer=smoke]}
    - {label: multistep, set: [trainer=cifar_paper]}
"""


@pytest.mark.slow
def test_a_users_experiment_whose_rows_select_presets_trains_through_the_cli_and_reports(tmp_path):
    (tmp_path / "myconf" / "exp").mkdir(parents=True)
    (tmp_path / "myconf" / "exp" / "my_recipes.yaml").write_text(USER_PRESET_ROWS)
    searchpath = f"hydra.searchpath=[file://{tmp_path}/myconf]"
    typed = [searchpath, *TINY, *SMALL, "trainer.epochs=1"]  # the report narrows to the same setting
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "senet_ablate",
            "+exp=my_recipes",
            *typed,
            "seed=0",
            f"results_dir={tmp_path / 'results'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    records = [json.loads(path.read_text()) for path in (tmp_path / "results" / "runs").glob("*.json")]
    assert sorted((r["status"], r["config"]["trainer"]["schedule"]) for r in records) == [
        ("completed", "cosine"),
        ("completed", "multistep"),
    ]
    written = write_reports(tmp_path / "results", tmp_path / "tables", exps=["my_recipes"], overrides=typed)
    table = written[0].read_text()
    assert "| cosine | " in table and "| multistep | " in table and "pending" not in table


# What the code calls that older torch lacks: (text in senet_ablate/, the torch release that added it).
TORCH_FEATURES = [
    ("including_emulation=", (2, 4)),  # torch.cuda.is_bf16_supported's argument
    ("torch.amp.GradScaler(", (2, 3)),  # before: torch.cuda.amp.GradScaler
    ("device_id=", (2, 3)),  # init_process_group's argument
    ("fused=", (2, 3)),  # SGD's fused CUDA kernel
]


def test_the_torch_floor_in_pyproject_has_every_torch_feature_the_code_calls():
    tomllib = pytest.importorskip("tomllib")
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (torch_requirement,) = [line for line in dependencies if line.startswith("torch>=")]
    floor = tuple(int(part) for part in torch_requirement.removeprefix("torch>=").split("."))
    source = "\n".join(path.read_text() for path in (REPO / "senet_ablate").rglob("*.py"))
    used = [(text, release) for text, release in TORCH_FEATURES if text in source]
    assert used, "none of TORCH_FEATURES is in the code: the list is out of date"
    assert all(floor >= release for _, release in used), (torch_requirement, used)
