"""The one exception type users see for bad input.

Every message names the key, the offending value and what is allowed, so the CLI can print it
as a single line and exit with status 2 instead of a traceback.
"""


class ConfigError(ValueError):
    """A configuration value (or a user-supplied input such as a state dict) is not usable."""

    def __init__(self, key: str, value: object, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")
