"""The runs of a config or a sweep, and where each stands: their ids need the dataset's fingerprint
and the device `auto` resolves to, so listing them belongs to the run stage, not to the records.
"""

import json
from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from senet_ablate.config import compose_config, row_configs
from senet_ablate.data import dataset_fingerprint
from senet_ablate.engine.machine import for_device
from senet_ablate.engine.trainer import resolve_device
from senet_ablate.records.status import RunState, claim_holder, state_of
from senet_ablate.records.store import read_record, record_path, run_id


def run_ids(cfg: DictConfig, leave_out: tuple[str, ...] = (), fingerprint: str | None = None) -> list[str]:
    """The ids `cfg` may run under, the one for this machine first. `trainer.device=auto` resolves
    on the machine that runs the job (cuda on a GPU node, cpu on a login node): both are looked up.
    `leave_out`: keys left out of the ids as well (see `store.run_id`); `fingerprint`: its data's,
    if already taken."""
    fingerprint = fingerprint or dataset_fingerprint(cfg.data)
    devices = [resolve_device(cfg.trainer.device).type]
    if cfg.trainer.device == "auto":
        devices += [device for device in ("cuda", "cpu") if device not in devices]
    return [run_id(for_device(cfg, device), fingerprint, leave_out) for device in devices]


def run_state(cfg: DictConfig, fingerprint: str | None = None) -> RunState:
    """The state of the run of a (row) config, from its record and claim (named, live-looking or not)."""
    ids = run_ids(cfg, fingerprint=fingerprint)
    for run in ids:
        path = record_path(cfg.results_dir, run)
        record = read_record(path, run) if path.exists() else None
        holder = claim_holder(cfg.results_dir, run)
        if record is not None or holder is not None:
            return RunState(cfg.exp.row, cfg.seed, run, state_of(record, holder), record, holder)
    return RunState(cfg.exp.row, cfg.seed, ids[0], "pending", None, None)


def sweep_configs(
    exp: str, seeds: Sequence[int], overrides: Sequence[str] = (), rows: Sequence[str] | None = None
) -> list[DictConfig]:
    """The config of every (row, seed) run of experiment `exp` under `overrides` (only `rows`, if
    given), in the file's order."""
    base = compose_config([f"+exp={exp}", *overrides])
    chosen = [row for row in row_configs(base) if rows is None or row.exp.row in rows]
    return [OmegaConf.merge(row, {"seed": seed}) for row in chosen for seed in seeds]


def sweep_states(
    exp: str, seeds: Sequence[int], overrides: Sequence[str] = (), rows: Sequence[str] | None = None
) -> list[RunState]:
    """Every (row, seed) run of experiment `exp` under `overrides` (only `rows`, if given), in the file's order.
    The data of each distinct `data` node is fingerprinted once (an image folder's is seconds a start)."""
    fingerprints: dict[str, str] = {}
    states = []
    for cfg in sweep_configs(exp, seeds, overrides, rows):
        data = json.dumps(OmegaConf.to_container(cfg.data, resolve=True), sort_keys=True)
        if data not in fingerprints:
            fingerprints[data] = dataset_fingerprint(cfg.data)
        states.append(run_state(cfg, fingerprints[data]))
    return states
