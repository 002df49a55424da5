"""What every command-line entry point shares: one-line errors and tool-only options."""

import sys
from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass

from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import OmegaConfBaseException

from senet_ablate.base.errors import ConfigError

USAGE_ERROR = 2


def pop_option(argv: list[str], key: str, allowed: Sequence[str] | None, default: str) -> tuple[list[str], str]:
    """Take `key=value` out of Hydra overrides for options that belong to a tool, not to a run.

    `allowed=None` accepts any non-empty value (a path, a list of names)."""
    value = default
    rest = []
    for arg in argv:
        if arg.startswith(f"{key}="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    if allowed is None and not value:
        raise ConfigError(key, value, "must not be empty")
    if allowed is not None and value not in allowed:
        raise ConfigError(key, value, "choose one of " + ", ".join(allowed))
    return rest, value


def one_line(error: Exception) -> str:
    """A user mistake as one line naming key, value and what is allowed.

    Ours already are; Hydra's and OmegaConf's span several lines, so they are rebuilt from the
    key, value and reason (or the options) that the exceptions carry.
    """
    if isinstance(error, ConfigError):
        return str(error)
    cause = error.__cause__ if isinstance(error.__cause__, OmegaConfBaseException) else error
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        reason = str(cause.msg).strip().splitlines()[0]
        if cause.value is None:  # an unknown key
            parent, _, _ = cause.full_key.rpartition(".")
            known = [field.name for field in fields(cause.object_type)] if is_dataclass(cause.object_type) else []
            return f"{cause.full_key} is not a key of the config: {parent or 'the top level'} has " + ", ".join(known)
        return f"{cause.full_key}={cause.value!r} is not allowed: {reason}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    if isinstance(error, MissingConfigException) and error.options:
        return f"{lines[0]}: choose one of {', '.join(error.options)}"
    return lines[0]


def run_cli(main: Callable[[list[str]], None], argv: list[str]) -> None:
    """Run `main(argv)`; a user mistake prints `error: ...` on one line and exits with status 2."""
    try:
        main(argv)
    except (ConfigError, HydraException, OmegaConfBaseException) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
