"""The signals that ask a run to stop, and what a data-loading worker does with them.

A cluster does not signal one process. SLURM sends SIGTERM (preemption, `scancel`) and the
`--signal` warning (SIGUSR1/2) to every process of the job step, and Ctrl-C sends SIGINT to the
terminal's whole foreground process group: DataLoader workers receive them too. Left to
themselves, PyTorch's workers die of SIGTERM (its handler re-raises it unless their parent sent
it) and of SIGINT, and the main process then fails with "DataLoader worker ... is killed by
signal" before it reaches the step boundary where it would have saved. So a worker ignores every
stop signal and the main process decides: it stops at the next step boundary, saves that step,
and shuts its workers down as at the end of any run (`engine/preemption.py`).

A worker cannot ignore anything before its `worker_init_fn` runs, and PyTorch installs its own
SIGTERM handler first. So the loader holds the stop signals (blocks them) while it starts its
workers (`held_while_workers_start`): a worker is born with them blocked, and a signal sent to
it before its init is kept pending, then discarded once the init ignores and unblocks them; the
main process receives its own copy when it unblocks, right after.
"""

import signal
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


def ignore_stop_signals(worker_id: int = 0) -> None:
    """A DataLoader `worker_init_fn`: this worker ignores STOP_SIGNALS, then lets through the ones
    `held_while_workers_start` blocked (pending ones are discarded, being ignored)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextmanager
def held_while_workers_start() -> Iterator[None]:
    """Block STOP_SIGNALS in this thread while loader workers are forked (they inherit the mask),
    then restore it: a stop signal meanwhile reaches this process when the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
