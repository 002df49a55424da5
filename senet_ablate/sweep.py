"""Hydra callback that closes a sweep with a summary of every row.

Failed rows do not stop a sweep (each job records its failure and returns); they are listed
here, at the end, all of them, and make the command exit non-zero.
"""

import logging
import sys
from typing import Any

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


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
        if any(record["status"] == "failed" for record in self.records):
            sys.exit(1)
