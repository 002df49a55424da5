"""`python -m senet_ablate.complexity`: parameters and GFLOPs of each row of a config, as a table.

The counting is `models/complexity.py`.

GFLOPs here are multiply-adds of convolutions and linear layers (FlopCounterMode counts a
multiply-add as 2 FLOPs, so its total is halved), at `data.image_size`, batch 1. Pooling,
element-wise ops and the SE block's channel-wise scale are not counted: this is the convention
of the paper's ResNet-50 ablation tables (vanilla 3.858, SE 3.8605 -> printed 3.86 / 3.87).

    python -m senet_ablate.complexity model=resnet101 se.enabled=false
    python -m senet_ablate.complexity +exp=reduction_sweep format=json
"""

import json
import sys
from dataclasses import asdict

from omegaconf import DictConfig

from senet_ablate.base.cli import pop_option, run_cli
from senet_ablate.config import compose_config, row_configs
from senet_ablate.models.complexity import config_complexity


def complexity_rows(cfg: DictConfig) -> list[dict]:
    """One dict per experiment row (or one for a plain config): label, model, params, GFLOPs."""
    rows = []
    for row_cfg in row_configs(cfg):
        result = config_complexity(row_cfg)
        label = row_cfg.exp.row if row_cfg.exp.row is not None else row_cfg.model.name
        rows.append({"label": label, "model": row_cfg.model.name, **asdict(result)})
    return rows


def to_markdown(rows: list[dict]) -> str:
    lines = ["| row | model | params (M) | GFLOPs (mult-adds) |", "|---|---|---:|---:|"]
    lines += [f"| {r['label']} | {r['model']} | {r['params_m']:.3f} | {r['gflops']:.4f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    argv, output_format = pop_option(argv, "format", ("markdown", "json"), default="markdown")
    rows = complexity_rows(compose_config(argv))
    print(json.dumps(rows, indent=2) if output_format == "json" else to_markdown(rows))


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
