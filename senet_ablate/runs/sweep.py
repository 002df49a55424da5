"""Hydra callback that closes a sweep: the state of every (row, seed) run, then the sweep's table.

Both come from the run records and claims in `results_dir` (see `records/status.py`), never from the
jobs' return values, so they are complete under any launcher: the basic one, submitit_local, or
SLURM jobs that ran on other nodes. A round of a settle sweep (`settle.max_seeds` set) leaves the
table to its driver (`runs/settle.py`), which reads it off its group-sequential design. Failed rows
do not stop a sweep; they are listed here, at the end, all of them, and make the command exit 1
(as does a sweep whose runs cannot be listed from this machine, or whose table cannot be written).
A sweep never exits 0 with a row it did not see finish: a row left to another process that holds
its claim (or stopped since) makes it exit 4, as a single run left to another process does, with
one line naming each such row and its holder.
"""

import logging
import sys
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from senet_ablate.base.errors import ConfigError
from senet_ablate.records.status import RunState
from senet_ablate.records.store import FINAL_STATUSES

log = logging.getLogger(__name__)
_PER_JOB_KEYS = ("exp", "exp.row", "seed")  # set per job by the sweep, not shared by its rows


def _key(override) -> str:
    return override.get_key_element().lstrip("+~")


def common_overrides(task_overrides: list[str]) -> list[str]:
    """The command line's overrides that every job of the sweep shares (no sweep lists, rows or seeds)."""
    parsed = OverridesParser.create().parse_overrides(task_overrides)
    return [o.input_line for o in parsed if not o.is_sweep_override() and _key(o) not in _PER_JOB_KEYS]


def swept_values(task_overrides: list[str], key: str) -> list[str] | None:
    """The values of `key` a sweep ran (`seed=0,1,2`, `seed=range(3)`, `exp.row=4,8` or one value)
    as typed on its command line, or None if it was not typed."""
    typed = [o for o in OverridesParser.create().parse_overrides(task_overrides) if _key(o) == key]
    if not typed:
        return None
    override = typed[-1]
    return [str(v) for v in (override.sweep_string_iterator() if override.is_sweep_override() else [override.value()])]


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from senet_ablate.report.tables import TablesFailed, write_reports
        from senet_ablate.runs.listing import sweep_states

        task = list(config.hydra.overrides.task)
        name = config.hydra.runtime.choices.exp  # the experiment file's name (config.exp.name is set per job)
        common = common_overrides(task)
        if config.hydra.searchpath:  # a user's config dir, where the experiment file may be
            common.append("hydra.searchpath=[" + ",".join(config.hydra.searchpath) + "]")
        default_seeds = [f"seed={config.hydra.sweeper.params.seed}"]  # conf/sweep/rows.yaml: 0
        seeds = swept_values(task, "seed") or swept_values(default_seeds, "seed")
        try:
            states = sweep_states(name, [int(s) for s in seeds], common, swept_values(task, "exp.row"))
        except ConfigError as error:  # e.g. the dataset is not readable from the machine that submitted the jobs
            log.error("cannot list the sweep's runs here: %s; the table below still shows their records", error)
            states = None
        for state in states or []:
            log.info("%s", state.describe())
        try:
            if config.settle.max_seeds:  # a settle round: the driver writes the table with its design
                log.info("run records: %s/runs; the settle sweep writes the table when it stops", config.results_dir)
            else:
                written = write_reports(config.results_dir, config.results_dir, exps=[name], overrides=common)
                log.info("table: %s; run records: %s/runs", written[0], config.results_dir)
        except TablesFailed as failed:
            log.error("%s", failed)
            sys.exit(1)
        except ConfigError as refused:  # e.g. out holds a file the report did not write: one line, not a traceback
            log.error("the table was not written: %s", refused)
            sys.exit(1)
        unfinished = [state for state in states or [] if state.state not in (*FINAL_STATUSES, "failed")]
        if unfinished:
            log.error("%s", not_finished(unfinished, len(states)))
        if states is None or any(state.state == "failed" for state in states):
            sys.exit(1)
        if unfinished:
            sys.exit(4)


def not_finished(unfinished: list[RunState], total: int) -> str:
    """One line for the runs of a sweep that neither finished nor failed: left to the process that
    holds each (named), or stopped since."""
    runs = "; ".join(
        f"row {state.label} seed {state.seed} {state.state}" + (f" on {state.where()}" if state.holder else "")
        for state in unfinished
    )
    return (
        f"{len(unfinished)} of {total} runs of this sweep did not finish here ({runs}): left to the processes "
        "that hold them, or stopped; the same command trains those no live process holds"
    )
