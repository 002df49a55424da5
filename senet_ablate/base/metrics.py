"""What the error metrics mean where they stop meaning anything, shared by the trainer that
measures them and the status lines and reporter that print them (which never import the trainer).
"""

TOP5_UNDEFINED = "top-5 error is undefined with 5 classes or fewer: every label is among the top 5"


def top5_defined(num_classes: int) -> bool:
    """Whether top-5 error measures anything: with 5 classes or fewer it would be 0% by
    construction, so the trainer records null and every reader prints n/a with TOP5_UNDEFINED."""
    return num_classes > 5


def percent(error: float | None) -> str:
    """An error as the log and status lines print it: n/a where it is undefined (see top5_defined)."""
    return "n/a" if error is None else f"{error:.2f}%"
