"""The package installs like one: its configs inside it, every subpackage listed, a user's own
config directory found through Hydra's search path. (`make wheel-check` installs the built
wheel into a fresh venv and runs it from outside the checkout; CI runs it.)"""

from pathlib import Path

import pytest

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
