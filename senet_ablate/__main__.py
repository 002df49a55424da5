"""`python -m senet_ablate [overrides]`: train one config, or with `+exp=<name>` a whole sweep.

An experiment file makes Hydra launch a multirun over its rows (x `seed`) with no `-m`; `main`
is then called once per (row, seed) with `exp.row` set.

Exit status: 0 completed (or skipped as already final), 1 failed (also when the results dir
fills up: one line on stderr), 2 refused configuration (one line on stderr, nothing written; an
unwritable `results_dir` too, or another user's folder in it: the line says what to `chmod`),
3 diverged, 4 left to another process that holds the run's claim (or took it over), 5 interrupted
by a stop signal (SIGTERM, SIGINT, SIGUSR1/2: the step is saved, run the same command again to
resume), 130 stopped at once by a second Ctrl-C. A sweep exits 1 if any row failed, else 4 if a
row was left to another process (each named in one line), and stops with 5 at the row a signal
interrupted.
"""

import shutil
import sys
from pathlib import Path

import hydra
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig

from senet_ablate.base.atomic import FULL_OR_READ_ONLY, check_writable_dir
from senet_ablate.base.cli import run_cli
from senet_ablate.base.errors import ConfigError
from senet_ablate.base.shared_dir import chmod_advice
from senet_ablate.config import (
    CONFIG_DIR,
    apply_row,
    check_experiment_names,
    compose_config,
    expand_user_paths,
    import_plugins,
    launcher_config,
    name_experiment,
    plugins_named,
    row_configs,
    utf8_path,
)
from senet_ablate.runs import settle
from senet_ablate.runs.checks import check_run

# running: claimed by another process. interrupted: the cluster asked the job to stop, so a sweep stops too.
EXIT_STATUS = {"completed": 0, "failed": 1, "diverged": 3, "running": 4, "interrupted": 5}


def check_command_line(argv: list[str]) -> None:
    """Compose and check every job the command line would launch, before Hydra starts any.

    Hydra reports a mistyped value with a multi-line message and status 1, and would find a bad
    row only when its turn comes, after other rows have trained; here every (sweep value, row)
    is checked first and the first mistake is a one-line ConfigError. Commands with Hydra's own
    flags other than -m (--cfg, --help, -cn, ...) are left to Hydra, once the modules a `plugins=`
    override names are imported (their config groups are then in the schema Hydra composes, and in
    the config store a launcher's workers unpickle). The expansion of sweep lists is Hydra's own
    (its basic sweeper's), so the jobs checked are the jobs launched.
    """
    refuse_two_hydra_commands(argv)
    import_plugins(plugins_named([arg for arg in argv if not arg.startswith("-")]))  # for Hydra's flags too
    if any(arg.startswith("-") and arg not in ("-m", "--multirun") for arg in argv):
        return
    refuse_slurm_without_srun(argv)
    overrides = [
        arg
        for arg in argv
        if not arg.startswith("-")
        and (arg.startswith("hydra.searchpath=") or not arg.lstrip("+~").startswith(("hydra.", "hydra/")))
    ]
    parsed = parse_overrides(overrides)
    if any(override.is_sweep_override() and not override.is_discrete_sweep() for override in parsed):
        return  # interval / range sweeps belong to other sweepers (optuna, ...): Hydra checks their jobs
    multirun = any(arg in ("-m", "--multirun", "hydra.mode=MULTIRUN") for arg in argv)
    results_dirs = []
    for batch in BasicSweeper.split_arguments(parsed, max_batch_size=None):
        for job_overrides in batch:
            cfg = compose_config(job_overrides)
            check_experiment_names(cfg.exp)  # the file's, not a row's: named without one
            if not (multirun or cfg.exp.rows):  # Hydra would stop at "Ambiguous value", in five lines
                refuse_sweeps_in_a_single_run(parsed)
            results_dirs.append(cfg.results_dir)
            rows = [apply_row(cfg, cfg.exp.row)] if cfg.exp.row is not None else row_configs(cfg)
            for row_cfg in rows:
                try:
                    check_run(row_cfg)
                except ConfigError as error:
                    if row_cfg.exp.row is None:
                        raise
                    where = f"{error.allowed} (row {row_cfg.exp.row!r} of {row_cfg.exp.name})"
                    raise ConfigError(error.key, error.value, where) from None
    for results_dir in dict.fromkeys(results_dirs):  # last: a refused command line creates no folder
        check_writable_dir("results_dir", results_dir)  # Hydra's log file goes there before any run starts


# Hydra's flags that each choose what it does, by their short and long names; it does one at a time.
COMMANDS = {"-m": "-m", "--multirun": "-m", "-c": "--cfg", "-i": "--info", "-r": "--run", "-sc": "--shell-completion"}
COMMANDS |= {name: name for name in ("--cfg", "--info", "--run", "--shell-completion")}


def refuse_two_hydra_commands(argv: list[str]) -> None:
    """Two of Hydra's commands (`-m --cfg job`, to see a sweep's config), or `--resolve` without
    `--cfg`, stop Hydra with a traceback of its ValueError: here they are one line saying which
    to drop. Hydra's own order: `--help` first whatever else is typed, then `--resolve`, then
    `--hydra-help`, then the commands."""
    flags = [arg.partition("=")[0] for arg in argv if arg.startswith("-")]
    if any(flag in ("-h", "--help", "--version") for flag in flags):
        return
    commands = list(dict.fromkeys(COMMANDS[flag] for flag in flags if flag in COMMANDS))
    if "--resolve" in flags and "--cfg" not in commands:
        raise ConfigError("--resolve", "without --cfg", "it resolves the config that --cfg prints: add --cfg job")
    if len(commands) > 1 and "--hydra-help" not in flags:
        drop = "drop -m (a swept key then takes one value)" if "-m" in commands else "keep one"
        raise ConfigError(commands[0], commands[1], f"Hydra does one of {', '.join(commands)} at a time: {drop}")


def refuse_slurm_without_srun(argv: list[str]) -> None:
    """submitit's SLURM launcher, where SLURM is not installed (a laptop, a container), stops with a
    traceback of its RuntimeError once the sweep starts: here it is one line saying where to submit."""
    chosen = [arg for arg in argv if arg.startswith("hydra/launcher=")]
    if not chosen or shutil.which("srun"):
        return
    if launcher_config(chosen[-1:])._target_.endswith(".SlurmLauncher"):
        raise ConfigError(
            "hydra/launcher",
            chosen[-1].partition("=")[2],
            "SLURM's srun is not on this machine's PATH: submit from a login node of the cluster, or leave "
            "hydra/launcher out to train here",
        )


def parse_overrides(overrides: list[str]) -> list[Override]:
    """Hydra's parse of the overrides; one it cannot read is a ConfigError that names it and says
    how to quote it (Hydra's own message is its lexer's, e.g. `LexerNoViableAltException`)."""
    parser = OverridesParser.create()
    try:
        return parser.parse_overrides(overrides)
    except OverrideParseException:
        for override in overrides:
            try:
                parser.parse_overrides([override])
            except OverrideParseException:
                key, _, value = override.partition("=")
                utf8_path(key, value)  # quoting would not help: say what would
                hint = "Hydra's override grammar cannot read this value"
                if value.startswith("~"):
                    hint = f"Hydra cannot read a value that starts with '~': write {key}=$HOME{value[1:]}"
                raise ConfigError(key, value, f"{hint}; or quote the value: '{key}=\"{value}\"'") from None
        raise


def refuse_sweeps_in_a_single_run(parsed: list[Override]) -> None:
    """A comma in a value makes it a list to sweep over, which a single run (no -m, no experiment
    file) cannot do: typically a path with a comma in it."""
    for override in parsed:
        if override.is_sweep_override():
            key, value = override.get_key_element(), override.input_line.partition("=")[2]
            raise ConfigError(
                key,
                value,
                f"a comma makes it a list of values to sweep over: quote it as one value ('{key}=\"{value}\"'), "
                "or add -m to run one job per value",
            )


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> dict:
    from senet_ablate.runs.run import run_job  # torch's data stack (1.3 s), not needed to check a command line

    try:
        cfg.exp.overrides = list(HydraConfig.get().overrides.task)
        name_experiment(cfg, HydraConfig.get().runtime.choices)
        cfg = expand_user_paths(cfg)
        if cfg.exp.row is not None:
            cfg = apply_row(cfg, cfg.exp.row)
        check_run(cfg)
        record = run_job(cfg)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: stopped by Ctrl-C (the step in progress is not saved; the same command resumes)", file=sys.stderr)
        sys.exit(130)
    except PermissionError as error:  # another user's file or folder, in a results dir a team shares
        where = Path(error.filename or cfg.results_dir)
        print(f"error: cannot write {where} ({error.strerror}): {chmod_advice(where)}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:
        if error.errno not in FULL_OR_READ_ONLY:
            raise
        # a claim or record under results_dir cannot be written: the disk filled up after the check
        print(f"error: cannot write under {Path(cfg.results_dir).resolve()}: {error}", file=sys.stderr)
        sys.exit(1)
    if record["status"] == "interrupted" or (HydraConfig.get().mode == RunMode.RUN and record["status"] != "completed"):
        sys.exit(EXIT_STATUS[record["status"]])
    return record  # in a sweep, SweepSummary turns failed or unfinished rows into the exit status


def hydra_sweep(overrides: list[str]) -> int:
    """One sweep run by Hydra in this process, as `python -m senet_ablate <overrides>` would run it
    (Hydra clears its global state after each): its exit status. A settle round; its jobs were
    checked with the settle command line (every row), so this adds no second check."""
    typed = sys.argv
    sys.argv = [typed[0], *overrides]
    try:
        main()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
    finally:
        sys.argv = typed
    return 0


def settle_sweep(argv: list[str]) -> None:
    """A settle sweep (`settle.max_seeds=N`): every job checked as for a sweep, then its rounds."""
    check_command_line(argv)
    settle.main(argv, hydra_sweep)


def cli() -> None:
    """`senet-ablate [overrides]`, the console script: the same as `python -m senet_ablate`."""
    if settle.requested(sys.argv[1:]):
        run_cli(settle_sweep, sys.argv[1:])
        return
    run_cli(check_command_line, sys.argv[1:])
    main()


if __name__ == "__main__":
    cli()
