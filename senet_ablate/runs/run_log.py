"""A run's own log folder, `<results_dir>/logs/<run_id>/`: its log file and the config it ran.

Named by the run id, which is known only once the data is fingerprinted, so two configs never
share a log or overwrite each other's snapshot (a folder named by model, data and seed did), and
every attempt at one run (a resume, a requeue, another user's) appends to the same log. Hydra's
own snapshot (`.hydra/`) and file log are off (`conf/config.yaml`): Hydra writes them through
whatever link is planted at their names in a shared results dir. Here the log is opened without
following a link (`open_for_append`) and the snapshot is written by atomic rename.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from senet_ablate.base.atomic import atomic_file
from senet_ablate.base.shared_dir import make_dirs, open_for_append

LOG_FILE = "senet_ablate.log"
SNAPSHOT_FILE = "config.yaml"
# Hydra's file log's format (its job_logging default), which this log replaces.
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


def log_dir(results_dir: str | Path, run: str) -> Path:
    return Path(results_dir) / "logs" / run


@contextmanager
def run_log(cfg: DictConfig, run: str) -> Iterator[Path]:
    """While the block runs, every log line also goes to `logs/<run>/senet_ablate.log` (appended),
    and `logs/<run>/config.yaml` holds `cfg`, resolved (its `exp.overrides`: the command line).
    Yields the folder. A link planted in the folder's path is a ConfigError (`make_dirs`)."""
    folder = make_dirs(log_dir(cfg.results_dir, run), below=Path(cfg.results_dir))
    with atomic_file(folder / SNAPSHOT_FILE) as tmp:
        tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    stream = open_for_append(folder / LOG_FILE)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    try:
        yield folder
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
        stream.close()
