"""The user's own blocks without a fork: a module named in `plugins=` registers with our decorator,
its config dataclass becomes a group Hydra checks, and the params the report counts follow its
keys. The slow test runs the real commands from a package outside the checkout."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import SMALL, TINY

from senet_ablate import create_model
from senet_ablate.attention import ATTENTION, attention_groups
from senet_ablate.base.errors import ConfigError
from senet_ablate.complexity import complexity_rows
from senet_ablate.config import PLUGIN_GROUPS, compose_config, register_configs
from senet_ablate.records.store import run_id

# A gate of one learned weight per channel group: `my_gate.groups` sets its parameter count.
BLOCKS = """
from dataclasses import dataclass

import torch
from torch import nn

from senet_ablate.attention import register_attention


@dataclass
class MyGateConfig:
    groups: int = 1  # channels share one learned weight per group


@register_attention("my_gate", config=MyGateConfig)
class MyGate(nn.Module):
    def __init__(self, channels: int, groups: int = 1):
        super().__init__()
        self.groups = groups
        self.logits = nn.Parameter(torch.zeros(groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.logits).repeat_interleave(x.shape[1] // self.groups)
        return x * weights.view(1, -1, 1, 1)
"""
# The experiment file names the plugin itself: its runs and its report need no `plugins=`.
MY_SWEEP = """# @package _global_
defaults:
  - /sweep: rows

plugins: [my_lab.blocks]
exp:
  table: my_gate
  reference: SE
  rows:
    - {label: SE, set: [attention=se]}
    - {label: gate-1, set: [attention=my_gate, my_gate.groups=1]}
    - {label: gate-16, set: [attention=my_gate, my_gate.groups=16]}
"""
UNITS = 9  # ResNet-20's residual units, each with one block


def write_plugin(root: Path) -> Path:
    (root / "my_lab").mkdir()
    (root / "my_lab" / "__init__.py").write_text("")
    (root / "my_lab" / "blocks.py").write_text(BLOCKS)
    (root / "my_conf" / "exp").mkdir(parents=True)
    (root / "my_conf" / "exp" / "my_sweep.yaml").write_text(MY_SWEEP)
    return root


@pytest.fixture
def my_lab(tmp_path, monkeypatch):
    """The plugin importable in this process, and forgotten afterwards (registries, schema,
    module), so that no other test composes a config with its group."""
    monkeypatch.syspath_prepend(str(write_plugin(tmp_path)))
    yield tmp_path
    ATTENTION.pop("my_gate", None)
    PLUGIN_GROUPS.pop("my_gate", None)
    register_configs()
    for name in ("my_lab.blocks", "my_lab"):
        sys.modules.pop(name, None)


def test_a_plugin_block_brings_its_config_group_counted_params_and_leaves_other_run_ids_alone(my_lab):
    se_config = [*TINY, "attention=se"]
    before = run_id(compose_config(se_config), "fp")
    assert "my_gate" not in compose_config(TINY)
    cfg = compose_config([*TINY, "plugins=[my_lab.blocks]", "attention=my_gate", "my_gate.groups=4"])
    assert cfg.my_gate.groups == 4 and "my_gate" in attention_groups()
    with pytest.raises(Exception, match="my_gate.groups"):  # typed by its dataclass, as eca.kernel_size
        compose_config(["plugins=[my_lab.blocks]", "my_gate.groups=many"])
    assert run_id(compose_config(se_config), "fp") == before  # its group is in no other block's id
    params = {
        groups: complexity_rows(compose_config([*TINY, "attention=my_gate", f"my_gate.groups={groups}"]))[0]
        for groups in (1, 16)
    }
    assert params[16]["params_m"] - params[1]["params_m"] == pytest.approx(UNITS * 15 / 1e6)
    import timm  # here: 1-2 s to import, for this test only

    # timm's keyword for the key (a `_` for the first `.`, though the group's name holds one)
    timm_gate = timm.create_model("senet_ablate_resnet20", attention="my_gate", my_gate_groups=16)
    ours = create_model(["model=resnet20", "attention=my_gate", "my_gate.groups=16"])
    assert count(timm_gate) == count(ours) == count(create_model(["model=resnet20", "attention=my_gate"])) + UNITS * 15


def count(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def test_an_unimportable_plugin_is_one_config_error_naming_it_and_why():
    with pytest.raises(ConfigError, match=r"plugins='no_such_lab.blocks' is not allowed: cannot import it: No module"):
        compose_config(["plugins=[no_such_lab.blocks]"])


@pytest.mark.slow  # trains three tiny runs through the CLI, then writes the report
def test_a_block_from_outside_the_checkout_is_swept_against_se_and_reported(tmp_path):
    root = write_plugin(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    searchpath = f"hydra.searchpath=[file://{root / 'my_conf'}]"
    run = [*TINY, *SMALL, "trainer.epochs=1", "data.num_workers=0"]

    def cli(module, *args):
        result = subprocess.run(
            [sys.executable, "-m", module, *args], cwd=root, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    cli("senet_ablate", "+exp=my_sweep", searchpath, *run)
    cli("senet_ablate.report", "exps=my_sweep", searchpath)
    table = (root / "results" / "my_sweep.md").read_text()
    rows = {line.split(" | ")[0][2:]: line for line in table.splitlines() if line.startswith("| ")}
    for label in ("SE", "gate-1", "gate-16"):
        assert "(n=1)" in rows[label], table  # measured, not pending
    (section,) = json.loads((root / "results" / "my_sweep.json").read_text())["sections"]
    params = {row["label"]: row["params_m"]["value"] for row in section["rows"]}
    assert params["gate-16"] - params["gate-1"] == pytest.approx(UNITS * 15 / 1e6)  # one weight per group
    assert params["SE"] > params["gate-16"]
