"""`python -m senet_ablate [overrides]`: train one config, or with `+exp=<name>` a whole sweep.

An experiment file makes Hydra launch a multirun over its rows (x `seed`) with no `-m`; this
function is then called once per (row, seed) with `exp.row` set.
"""

import sys

import hydra
from omegaconf import DictConfig

from senet_ablate.config import apply_row, check_config
from senet_ablate.errors import ConfigError
from senet_ablate.run import run_job


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> dict:
    try:
        if cfg.exp.row is not None:
            cfg = apply_row(cfg, cfg.exp.row)
        check_config(cfg)
        return run_job(cfg)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
