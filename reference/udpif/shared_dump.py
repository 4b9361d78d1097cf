"""The flow dump one revalidation round shares between its revalidators (``struct dpif_flow_dump``)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence

from reference.dpif import DpifFlow
from reference.udpif.config import REVALIDATE_MAX_BATCH

__all__ = ["SharedDump"]


class SharedDump:
    """One flow dump shared by all revalidators (``dpif_flow_dump`` + per-thread dump threads).

    ``batches`` is the datapath's :meth:`~reference.dpif.Dpif.flow_dump_batches`;
    :meth:`next_batch` hands out one batch at a time, each to exactly one
    revalidator (``dpif_flow_dump_next`` fills a caller's array of up to 50).
    With ``background`` a private thread pulls the batches and queues them:
    an iterator may only be safe to resume from the thread that started it (a
    generator holding a lock across ``yield`` breaks otherwise, as an early
    reference datapath did), so it is never advanced by several revalidator
    threads in turn.
    """

    __slots__ = ("_closing", "_it", "_lock", "_queue", "_thread", "n_dumped", "terse")

    def __init__(self, batches: Iterator[Sequence[DpifFlow]], *, terse: bool, background: bool = False) -> None:
        self._it = batches
        self._lock = threading.Lock()
        self.terse = terse
        self.n_dumped = 0
        self._closing = False
        self._queue: queue.SimpleQueue[Sequence[DpifFlow] | BaseException | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._produce, name="flow-dump", daemon=True)
            self._thread.start()

    def _produce(self) -> None:
        q = self._queue
        assert q is not None
        try:
            for batch in self._it:
                if batch:
                    q.put(batch)
                if self._closing:
                    break
        except BaseException as exc:
            q.put(exc)
        finally:
            self._close_iterator()
            q.put(None)

    def _close_iterator(self) -> None:
        close = getattr(self._it, "close", None)
        if close is not None:
            close()

    def next_batch(self, n: int = REVALIDATE_MAX_BATCH) -> Sequence[DpifFlow]:
        """The next batch (at most ``n`` flows were asked of the datapath), or an empty one at the end."""
        with self._lock:
            if self._queue is not None:
                item = self._queue.get()
                if item is None:
                    self._queue.put(None)  # let every other revalidator see the end too
                    return []
                if isinstance(item, BaseException):
                    self._queue.put(None)
                    raise item
                self.n_dumped += len(item)
                return item
            for batch in self._it:
                if batch:
                    self.n_dumped += len(batch)
                    return batch
            return []

    def close(self) -> None:
        """``dpif_flow_dump_destroy``: stop the dump (the producer thread closes its own iterator)."""
        self._closing = True
        if self._thread is not None:
            self._thread.join()
        else:
            self._close_iterator()
