"""Hydra callback that closes a sweep: a summary of every row, then the sweep's table.

Failed rows do not stop a sweep (each job records its failure and returns); they are listed
here, at the end, all of them, and make the command exit non-zero.
"""

import logging
import sys
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)
_PER_JOB_KEYS = ("exp", "exp.row", "seed")  # set per job by the sweep, not shared by its rows


class SweepSummary(Callback):
    def __init__(self) -> None:
        self.records: list[dict] = []

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if job_return.status == JobStatus.COMPLETED and isinstance(job_return.return_value, dict):
            self.records.append(job_return.return_value)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        for record in self.records:
            outcome = record["status"]
            if outcome == "completed":
                outcome += f"  top-1 err {record['top1_err']:.2f}%  top-5 err {record['top5_err']:.2f}%"
            elif record.get("error"):
                outcome += f"  ({record['error']})"
            log.info("row %-12s seed %d  %s", record["label"], record["seed"], outcome)
        self.write_table(config)
        if any(record["status"] == "failed" for record in self.records):
            sys.exit(1)

    def write_table(self, config: DictConfig) -> None:
        """Regenerate this sweep's table, matching rows under the command line's other overrides."""
        from senet_ablate.report import write_reports

        parsed = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
        common = [
            override.input_line
            for override in parsed
            if not override.is_sweep_override() and override.get_key_element().lstrip("+") not in _PER_JOB_KEYS
        ]
        written = write_reports(config.results_dir, config.results_dir, exps=[config.exp.name], overrides=common)
        log.info("table: %s; run records: %s/runs", written[0], config.results_dir)
