"""The signals that ask a run to stop, and what a data-loading worker does with them.

A cluster does not signal one process. SLURM sends SIGTERM (preemption, `scancel`) and the
`--signal` warning (SIGUSR1/2) to every process of the job step, and Ctrl-C sends SIGINT to the
terminal's whole foreground process group: DataLoader workers receive them too. Left to
themselves, PyTorch's workers die of SIGTERM (its handler re-raises it unless their parent sent
it) and of SIGINT, and the main process then fails with "DataLoader worker ... is killed by
signal" before it reaches the step boundary where it would have saved. So a worker ignores every
stop signal and the main process decides: it stops at the next step boundary, saves that step,
and shuts its workers down as at the end of any run (`engine/preemption.py`).
"""

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


def ignore_stop_signals(worker_id: int = 0) -> None:
    """A DataLoader `worker_init_fn`: this worker ignores STOP_SIGNALS (see the module docstring).

    It runs after PyTorch installs its own worker handlers, so it replaces them; a signal that
    arrives in the milliseconds between a worker's start and this call still kills the worker."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
