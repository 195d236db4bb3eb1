"""How many uploaded images the server reads at once, and giving their memory back to the system afterwards.

An uploaded image costs far more than its bytes while it is read: a 5 MB noise PNG is a 1.6-megapixel RGB image,
then gray floats and the preprocessing's copies, tens of MB in all. Fifty clients sending one each at once made
the server hold all 50 bodies while it decoded a few at a time, and glibc's malloc kept what they had freed (each
worker thread gets its own arena, and what is freed there stays there), so the process stayed at three times its
size after the burst. Hence:

- :class:`ImageGate`: at most ``slots`` image requests are read and decoded at once (the body is read inside the
  slot, so at most ``slots`` bodies are held); one more waits up to ``wait`` seconds for a slot, then gets 503 with
  ``Retry-After``;
- :func:`release_memory`: ``malloc_trim(0)`` when the last image of a burst is done, whatever its outcome, which
  hands what the arenas hold free back to the system (an error's traceback is first rid of the failed decode's
  arrays, or they would still be in use then). (Mapping every big block on its own instead, glibc's
  ``M_MMAP_THRESHOLD``, rested about as low but made a burst up to half again as slow: a fresh mapping's page
  faults for every array.)

Where there is no glibc (macOS, musl) the trim is skipped: the gate still bounds the peak there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import traceback

from matnet.serve.inputs import BadRequest

__all__ = ["ImageGate", "IMAGE_SLOTS", "IMAGE_WAIT_S", "release_memory"]

IMAGE_SLOTS = max(1, min(4, os.cpu_count() or 1))   # decoding is CPU work: more at once than cores gains nothing
IMAGE_WAIT_S = 10.0                                 # how long an image request waits for a slot before 503


def _glibc():
    """The C library when it is glibc (it has ``malloc_trim``), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _glibc()


def release_memory() -> bool:
    """Give the free memory in malloc's arenas back to the system (glibc's ``malloc_trim(0)``: about a
    millisecond). Whether it could."""
    if _LIBC is None:
        return False
    _LIBC.malloc_trim(0)
    return True


def _drop_locals(err: BaseException) -> None:
    """Clear the local variables of the finished frames that ``err``'s traceback (and those of the exceptions it
    came from) holds. A decode that failed (422: no digit in a blank 16-megapixel image) left its arrays there,
    alive while the error travels on to its answer, so a trim in ``slot``'s ``finally`` found them still in use
    and the server kept them (110 -> 195 MB) until the next success. Frames still running are left as they are;
    a traceback printed later still names every file and line."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        traceback.clear_frames(err.__traceback__)
        err = err.__cause__ or err.__context__


class ImageGate:
    """At most ``slots`` image requests inside at once; another waits up to ``wait`` seconds, then is refused with
    503 and ``Retry-After``. When the last one leaves, the memory the burst used is released."""

    def __init__(self, slots: int = IMAGE_SLOTS, wait: float = IMAGE_WAIT_S):
        self.slots = slots
        self.wait = wait
        self.inside = 0
        self._free = asyncio.Semaphore(slots)

    @contextlib.asynccontextmanager
    async def slot(self):
        """``async with gate.slot():`` read and decode one image."""
        try:
            await asyncio.wait_for(self._free.acquire(), self.wait)
        except TimeoutError:
            raise BadRequest(503, f"the server is decoding {self.slots} images already and none finished within "
                                  f"{self.wait:g} s; try again shortly",
                             headers={"Retry-After": "1"}) from None
        self.inside += 1
        try:
            yield
        except BaseException as err:
            _drop_locals(err)
            raise
        finally:
            self.inside -= 1
            self._free.release()
            if self.inside == 0:
                release_memory()
