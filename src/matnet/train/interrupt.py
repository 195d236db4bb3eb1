"""Ctrl-C that waits for a step boundary, so that the state a checkpoint saves is never half-updated.

The first SIGINT only raises a flag (the training loop stops after the current step and saves a checkpoint);
a second one interrupts at once, as Ctrl-C normally does.
"""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["deferred_sigint"]


@contextlib.contextmanager
def deferred_sigint(on_first):
    """Within the block, the first Ctrl-C calls ``on_first()``; the next raises KeyboardInterrupt immediately."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def first(signum, frame):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        on_first()

    signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
