"""Stop at a step boundary when asked to stop: by the cluster, or by Ctrl-C.

SLURM warns before it kills: SIGTERM when a job is preempted or cancelled (then SIGKILL after the
partition's grace time), and the signal of `--signal` before the time limit, each to every process
of the job step. submitit asks for SIGUSR2 there (`signal_delay_s` seconds ahead) and installs its
own handler for it, which checkpoints the submitted callable (Hydra's submitit launcher resubmits
the same job), requeues the job and exits. That handler must not run in the middle of a training
step: the run's own checkpoint would be lost. Ctrl-C sends SIGINT, which would otherwise raise
KeyboardInterrupt wherever the run is and save nothing.

So while a run trains, `StopSignals` holds the stop signals (`stop_signals.STOP_SIGNALS`: SIGINT,
SIGTERM, SIGUSR1, SIGUSR2) and only notes their arrival; the DataLoader workers ignore them (see
`stop_signals.py`). The trainer stops at the next step boundary and saves a mid-epoch checkpoint;
the run records itself `interrupted` and gives up its claim. Then `hand_over` calls whatever
handler the signal had before (submitit's requeue, where there is one). Without submitit the
process exits with the `interrupted` status and the next start resumes at the saved step.

A second Ctrl-C while the run is stopping means "now": it raises KeyboardInterrupt at once, which
saves nothing more; the next start resumes from the last checkpoint.
"""

import logging
import signal
import threading
from types import FrameType

from senet_ablate.base.stop_signals import STOP_SIGNALS

log = logging.getLogger(__name__)


class StopSignals:
    """Context manager: while inside, the stop signals are noted instead of acted on.

    Signal handlers can only be set from the main thread; elsewhere (a run inside a thread)
    nothing is installed and `received` stays None."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._note) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:  # the first signal is the one that counts
            self.received = signum
            again = " (Ctrl-C again to stop at once, without saving this step)" if signum == signal.SIGINT else ""
            log.warning("%s: stopping at the next step boundary and saving it%s", signal.Signals(signum).name, again)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    @property
    def requested(self) -> bool:
        return self.received is not None

    def hand_over(self) -> None:
        """After leaving the context, once the checkpoint is saved: let the signal's previous owner
        act on it (submitit's handler requeues the job and exits on rank 0, and returns on the
        other ranks). A default handler is not re-raised, nor Python's SIGINT handler (it would
        raise KeyboardInterrupt): the caller exits with its own status."""
        handler = self._previous.get(self.received)
        if callable(handler) and handler is not signal.default_int_handler:
            log.info(
                "handing %s over to %s", signal.Signals(self.received).name, getattr(handler, "__qualname__", handler)
            )
            handler(self.received, None)
