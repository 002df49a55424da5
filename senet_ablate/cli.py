"""What every command-line entry point shares: one-line errors and tool-only options."""

import sys
from collections.abc import Callable, Sequence

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from senet_ablate.errors import ConfigError

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


def run_cli(main: Callable[[list[str]], None], argv: list[str]) -> None:
    """Run `main(argv)`; a user mistake prints `error: ...` on one line and exits with status 2."""
    try:
        main(argv)
    except (ConfigError, HydraException, OmegaConfBaseException) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: {first_line}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
