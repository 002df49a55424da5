"""`python -m senet_ablate +exp=<name> settle.max_seeds=N`: a settle sweep, seeds in rounds.

Each round is one ordinary sweep of the experiment (the same command line, with `exp.row` the rows
still open and `seed=range(0,n)` up to the round's look), run by Hydra in this process as a typed
sweep would be (`__main__` passes its entry point): the launcher chosen on the command line (basic,
submitit, SLURM), the claims that let sweeps run side by side and the skipping of runs already final
all work as for a typed sweep. A round writes no table of its own (`runs/sweep.py`): read after every
round at the fixed design's levels, it would be the naive re-testing this design exists to avoid.
Before its first round the driver declares its design for the setting in the results dir
(`report/settle_design.py`): from then on every table of that setting, the driver's, a later
`python -m senet_ablate.report`'s, or one written after a kill, is read off the design
(`report/settle.py`), so its cells and claims are the decisions printed here; another design for the
same runs is refused. The driver writes the table once, when the sweep stops, as the report would.
Between rounds nothing is kept but the run records (and the declaration, which decides nothing): the
decisions are recomputed from them, so runs already in the results dir count for their seeds, and a
driver killed at any point continues where the records stand when the same command is typed again
(and, its rounds all run, writes the table).

Exit status: 0 when the sweep stops (every comparison settled, or the maximum seeds or the budget
reached: each comparison and the reason are printed), else the status of the round that did not
finish (1 a row failed, 4 left to another process, 5 interrupted: see `__main__`), 2 a refused
configuration.
"""

import sys
from collections.abc import Callable, Sequence

from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.report.experiments import load_experiment
from senet_ablate.report.sequential import Design, Settle
from senet_ablate.report.settle import Round, next_round
from senet_ablate.report.settle_design import declare, pinned, settle_problem
from senet_ablate.report.summary import chance_error, table_family
from senet_ablate.report.tables import TablesFailed, write_reports

_PER_ROUND = ("exp", "exp.row", "seed")  # set by each round; `settle.*` stays with the driver


def requested(argv: Sequence[str]) -> bool:
    """Whether a command line asks for a settle sweep (`settle.max_seeds` typed)."""
    return any(arg.startswith("settle.max_seeds=") for arg in argv)


def _key(arg: str) -> str:
    return arg.partition("=")[0].lstrip("+~")


def round_overrides(name: str, argv: Sequence[str], rows: Sequence[str], seeds: int) -> list[str]:
    """The sweep of one round: the typed command line, `settle.*` kept (so the round leaves the table to
    the driver), for `rows` x seeds 0 .. seeds − 1."""
    kept = [arg for arg in argv if arg not in ("-m", "--multirun") and _key(arg) not in _PER_ROUND]
    labels = ",".join("'" + label.replace("'", "\\'") + "'" for label in rows)
    return [f"+exp={name}", *kept, f"exp.row={labels}", f"seed=range(0,{seeds})"]


def _shared(overrides: Sequence[str]) -> list[str]:
    """What every run shares, as a sweep's table reads it (`runs/sweep.py`): no Hydra keys but its search path."""
    return [
        arg
        for arg in overrides
        if _key(arg) not in _PER_ROUND
        and not _key(arg).startswith("settle.")
        and (arg.startswith("hydra.searchpath=") or not _key(arg).startswith(("hydra.", "hydra/")))
    ]


def plan(argv: Sequence[str]) -> tuple[str, Design, Round]:
    """The experiment, the design and what its records decide now."""
    overrides = [arg for arg in argv if not arg.startswith("-")]
    cfg = compose_config(overrides)
    name, settle = cfg.exp.name, cfg.settle
    if name is None:
        raise ConfigError("settle.max_seeds", settle.max_seeds, "a settle sweep needs an experiment file: +exp=<name>")
    problem = settle_problem(settle.max_seeds, settle.looks, settle.budget_gpu_hours, settle.rho)
    if problem is not None:
        field, value, allowed = problem
        raise ConfigError(f"settle.{field}", value, allowed)
    shared = _shared(overrides)
    experiment = load_experiment(name, shared)
    pairs = table_family(experiment)
    typed = Settle(settle.max_seeds, settle.looks, settle.budget_gpu_hours, settle.rho)
    # declared with its looks resolved, so that a later version's default cannot change a design under way
    declared = Settle(typed.max_seeds, typed.rounds, typed.budget_gpu_hours, typed.rho)
    declare(cfg.results_dir, name, pinned(experiment.defaults), declared)  # before any round: see the module
    design = declared.design(len(pairs))
    from senet_ablate.runs.listing import sweep_states  # here: it imports the trainer (torchvision, ~1.3 s)

    runs: dict[str, dict[int, dict]] = {label: {} for label in experiment.identities}
    for state in sweep_states(name, range(design.looks[-1]), shared):
        if state.record is not None:
            runs[state.label][state.seed] = dict(state.record)
    chance = chance_error({"data.num_classes": cfg.data.num_classes})
    return name, design, next_round(design, runs, pairs, experiment.margin, chance, settle.budget_gpu_hours)


def describe(step: Round, design: Design) -> list[str]:
    """Why the sweep stopped, and each comparison: settled after n seeds, or open at n."""
    lines = [f"settle: stopped ({step.stop}); {design.describe()}"]
    for (row, other), decision in step.decisions.items():
        low, high = (None, None) if decision.comparison is None else (decision.comparison.low, decision.comparison.high)
        bounds = "" if low is None else f", 95% repeated interval [{low:+.2f}, {high:+.2f}]"
        state = "settled" if decision.look is not None else "open"
        lines.append(f"  {row} − {other}: {decision.verdict}, {state} at {decision.seeds} seeds per row{bounds}")
    return lines


def write_table(argv: Sequence[str]) -> None:
    """The experiment's table as `python -m senet_ablate.report` writes it: its section of this
    setting read off the declared design (`report/settle_design.py`, `report/settle.py`)."""
    overrides = [arg for arg in argv if not arg.startswith("-")]
    cfg = compose_config(overrides)
    try:
        written = write_reports(cfg.results_dir, cfg.results_dir, [cfg.exp.name], _shared(overrides))
    except TablesFailed as failed:
        print(f"error: {failed}", file=sys.stderr)
        sys.exit(1)
    print(f"settle: table {written[0]}", file=sys.stderr)


def main(argv: list[str], sweep: Callable[[list[str]], int]) -> None:
    """Run rounds until the records settle the table's family, or its maximum or budget is reached,
    then write the table. `sweep`: runs one round's overrides as a typed sweep, returns its exit status."""
    last = None
    while True:
        name, design, step = plan(argv)
        if step.stop is not None:
            print("\n".join(describe(step, design)), file=sys.stderr)
            write_table(argv)
            return
        if (step.rows, step.seeds) == last:  # the round ran, yet its records are not where this command looks
            raise ConfigError("settle", f"round {step.rows} x {step.seeds} seeds", "its runs left no final record")
        last = (step.rows, step.seeds)
        print(f"settle: round of {', '.join(step.rows)} x seeds 0-{step.seeds - 1}", file=sys.stderr)
        status = sweep(round_overrides(name, argv, step.rows, step.seeds))
        if status:
            sys.exit(status)
