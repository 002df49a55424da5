"""The config's meaning, checked before anything runs: allowed names, ranges, and keys that would be
silently ignored. Each refusal is a ConfigError naming the key, the value and what is allowed.
The checks that depend on the model (its stages, SE positions, attention) are `models/checks.py`;
those that depend on the dataset (its classes, sizes, augmentations, loaders) `data/checks.py`.
"""

import string

from omegaconf import DictConfig

from senet_ablate.base.errors import ConfigError
from senet_ablate.config.schema import (
    AMP_DTYPES,
    COUNT_RELATIONS,
    COUNTED,
    DEVICES,
    INTERPOLATIONS,
    LOGGERS,
    LOSSES,
    PAIRS,
    RELATIONS,
    SCHEDULES,
    WANDB_MODES,
)

# The largest seed every RNG a run seeds accepts: numpy's legacy `np.random.seed` takes 0..2**32-1
# (torch's and Python's take more, and the per-epoch and per-image seeds derived from it stay in range).
MAX_SEED = 2**32 - 1
# Experiment names and row labels name folders (a sweep's log dirs, `<exp>.md`) and table rows: one
# path component each, never `..` or a separator, short enough for any file system with the
# `-seed<n>` of a log dir added, and no `|`, quote or backtick to break a table or a code span. The
# paper's labels (`SE-PRE`, `SE_3x3`, `Shake-Shake 26 2x96d + Cutout`, `SE-MobileNetV2 (standard)`) fit.
MAX_NAME = 64
LABEL_CHARS = frozenset(string.ascii_letters + string.digits + " +-_.,=()%&")
NAME_CHARS = frozenset(string.ascii_letters + string.digits + "+-_.")


def choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(key, value, "choose one of " + ", ".join(map(str, allowed)))


def within(key: str, value, low=None, high=None, low_open=False, high_open=True) -> None:
    """`value` must lie in the interval; the message states it the way a reader would write it."""
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if value is None or too_low or too_high:
        left = "" if low is None else f"{low} {'<' if low_open else '<='} "
        right = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise ConfigError(key, value, f"must be {left}{key.rsplit('.', 1)[-1]}{right}")


def positive(key: str, value) -> None:
    if value is None or value <= 0:
        raise ConfigError(key, value, "must be > 0")


def path_component(key: str, value, chars: frozenset[str], described: str) -> None:
    """`value` must be 1 to MAX_NAME characters of `chars` (`described` says which), starting with a
    letter, digit or `+` and not ending in a space: a single, visible folder name."""
    if not (
        isinstance(value, str)
        and 0 < len(value) <= MAX_NAME
        and set(value) <= chars
        and (value[0].isalnum() or value[0] == "+")
        and not value.endswith(" ")
    ):
        raise ConfigError(
            key,
            value,
            f"1 to {MAX_NAME} characters of {described}, starting with a letter, a digit or +, not ending in a space",
        )


def utf8_path(key: str, value) -> None:
    """A path given as bytes that are not UTF-8 (the shell hands them over as lone surrogates) can be
    neither hashed, logged nor written to a record."""
    try:
        str(value).encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            key,
            value,
            "a path in UTF-8 (this one holds bytes that are not): rename it, or link to it from a UTF-8 path",
        ) from None


def check_experiment_names(exp: DictConfig) -> None:
    """The experiment's name, table and rows' labels, each a safe folder name (NAME_CHARS, LABEL_CHARS),
    and each label given to one row only: the sweep runs and reports rows by label."""
    for key in ("name", "table"):  # the file's name; the paper table it reproduces, or a name of its own
        if exp[key] is not None:
            path_component(f"exp.{key}", exp[key], NAME_CHARS, "letters, digits and + - _ .")
    seen: dict[str, int] = {}
    for index, row in enumerate(exp.rows):
        key = f"exp.rows[{index}].label"
        path_component(key, row.label, LABEL_CHARS, "letters, digits, spaces and + - _ . , = ( ) % &")
        if row.label in seen:
            raise ConfigError(key, row.label, f"a label of its own: exp.rows[{seen[row.label]}] has it already")
        seen[row.label] = index


def _check_trainer(trainer: DictConfig) -> None:
    for key in ("epochs", "batch_size", "accumulate_steps"):
        positive(f"trainer.{key}", trainer[key])
    positive("trainer.lr", trainer.lr)
    within("trainer.momentum", trainer.momentum, low=0, high=1)
    if trainer.nesterov and trainer.momentum == 0:
        raise ConfigError("trainer.nesterov", True, "needs trainer.momentum > 0")
    within("trainer.weight_decay", trainer.weight_decay, low=0)
    choice("trainer.schedule", trainer.schedule, SCHEDULES)
    positive("trainer.step_epochs", trainer.step_epochs)
    milestones = list(trainer.milestones)
    if not milestones or milestones != sorted(set(milestones)):
        raise ConfigError("trainer.milestones", milestones, "a non-empty increasing list of fractions of the epochs")
    for fraction in milestones:
        within("trainer.milestones", fraction, low=0, high=1, low_open=True, high_open=False)
    within("trainer.plateau_patience", trainer.plateau_patience, low=0)
    if trainer.plateau_drops is not None:
        within("trainer.plateau_drops", trainer.plateau_drops, low=0)
    within("trainer.warmup_epochs", trainer.warmup_epochs, low=0, high=trainer.epochs)
    if trainer.schedule == "onecycle" and trainer.warmup_epochs == 0:
        raise ConfigError("trainer.warmup_epochs", 0, "at least 1 with trainer.schedule=onecycle: its rise to the peak")
    within("trainer.label_smoothing", trainer.label_smoothing, low=0, high=1)
    within("trainer.ema_decay", trainer.ema_decay, low=0, high=1)
    _check_recipe_parts(trainer)
    choice("trainer.device", trainer.device, DEVICES)
    choice("trainer.amp_dtype", trainer.amp_dtype, AMP_DTYPES)
    positive("trainer.dist_timeout_s", trainer.dist_timeout_s)
    if trainer.max_steps_per_epoch is not None:
        positive("trainer.max_steps_per_epoch", trainer.max_steps_per_epoch)


def _check_recipe_parts(trainer: DictConfig) -> None:
    """The optimiser, loss and augmentations that timm provides (trainer=timm_a3 uses them)."""
    if trainer.optimizer != "sgd":
        from timm.optim import list_optimizers

        choice("trainer.optimizer", trainer.optimizer, ["sgd", *list_optimizers()])
    choice("trainer.loss", trainer.loss, LOSSES)
    if trainer.bce_target_threshold is not None:
        if trainer.loss != "bce":
            raise ConfigError("trainer.bce_target_threshold", trainer.bce_target_threshold, "needs trainer.loss=bce")
        within("trainer.bce_target_threshold", trainer.bce_target_threshold, low=0, high=1)
    for key in ("mixup_alpha", "cutmix_alpha"):
        within(f"trainer.{key}", trainer[key], low=0)
    if trainer.randaugment is not None:
        from timm.data.auto_augment import rand_augment_transform

        try:
            rand_augment_transform(trainer.randaugment, {})
        except (AssertionError, ValueError, KeyError, IndexError) as error:
            raise ConfigError(
                "trainer.randaugment",
                trainer.randaugment,
                f"a timm RandAugment string such as rand-m6-mstd0.5-inc1 ({error or 'not understood'})",
            ) from None
    choice("trainer.interpolation", trainer.interpolation, INTERPOLATIONS)
    if trainer.train_image_size is not None:
        positive("trainer.train_image_size", trainer.train_image_size)
    if trainer.eval_crop_pct is not None:
        within("trainer.eval_crop_pct", trainer.eval_crop_pct, low=0, high=1, low_open=True, high_open=False)


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first value that Hydra's type check lets through but cannot make a
    meaningful run: unknown names, out-of-range numbers, and keys that would be silently ignored.
    The model's and the dataset's own keys are `models.checks.check_model`'s and
    `data.checks.check_data`'s (the commands run all three; build_model the first two)."""
    _check_trainer(cfg.trainer)
    choice("logger.name", cfg.logger.name, LOGGERS)
    choice("logger.mode", cfg.logger.mode, WANDB_MODES)
    within("seed", cfg.seed, low=0, high=MAX_SEED, high_open=False)
    if not cfg.results_dir:
        raise ConfigError("results_dir", cfg.results_dir, "must not be empty")
    utf8_path("data.root", cfg.data.root)
    utf8_path("results_dir", cfg.results_dir)
    check_experiment_names(cfg.exp)
    if cfg.exp.row is not None:
        choice("exp.row", cfg.exp.row, [row.label for row in cfg.exp.rows])
    if cfg.exp.rows:
        choice("exp.reference", cfg.exp.reference, [PAIRS, *(row.label for row in cfg.exp.rows)])
        within("exp.margin", cfg.exp.margin, low=0, low_open=True)
        labels = [row.label for row in cfg.exp.rows]
        for index, claim in enumerate(cfg.exp.claims):
            choice(f"exp.claims[{index}].metric", claim.metric, ["top1_err", *COUNTED])
            relations = RELATIONS if claim.metric == "top1_err" else COUNT_RELATIONS
            choice(f"exp.claims[{index}].relation", claim.relation, relations)
            for label in [*claim.rows, *claim.than]:
                choice(f"exp.claims[{index}].rows", label, labels)
            if not claim.rows or (not claim.than and claim.relation != "equivalent"):
                raise ConfigError(f"exp.claims[{index}]", claim.says, "rows, and `than` unless the rows are equivalent")
