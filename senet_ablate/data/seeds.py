"""The seeds data and training draw from: one per item of an epoch, derived from the epoch's seed,
so that a draw depends on (seed, epoch, item) only, never on the worker or the process that makes it."""


def mix_seed(seed: int, index: int) -> int:
    """A seed for item `index` of an epoch seeded `seed`: consecutive epochs' streams lie far apart."""
    return (seed * 0x9E3779B97F4A7C15 + index) % 2**63
