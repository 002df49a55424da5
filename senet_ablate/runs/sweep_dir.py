"""Hydra callback that prepares a sweep's folder (`hydra.sweep.dir`) before Hydra writes into it.

Hydra's sweeper writes `multirun.yaml` there with a plain `open()`, which would follow a link
planted at that name in a shared results dir. Before the sweep starts, the folder is made
(group-shared under a setgid parent, no link in its path under `results_dir`) and anything but a
plain file at `multirun.yaml` is removed, so that Hydra writes a new file of its own.
"""

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from senet_ablate.base.errors import ConfigError
from senet_ablate.base.shared_dir import make_dirs, remove_planted


class SweepDir(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep, results = Path(config.hydra.sweep.dir), Path(config.results_dir)
        try:
            make_dirs(sweep, below=results if sweep.is_relative_to(results) else None)
            remove_planted(sweep / "multirun.yaml")
        except ConfigError as error:  # a link where the sweep's folder goes: one line, before any job starts
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
