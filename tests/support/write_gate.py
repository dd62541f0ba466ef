"""Hold the applier between its writes while another writer acts: races made deterministic."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from asset_sync.logic.apply import WritePacer


class ApplyGate:
    """Holds the applier's paced write starts while a hook runs (the test's other writer), so
    the writes the applier already prepared from its read go out only after the other writer's.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, timeout: float = 120.0) -> None:
        self.open = threading.Event()
        self.open.set()
        original = WritePacer.wait
        gate = self.open

        def wait(pacer: WritePacer) -> None:
            gate.wait(timeout=timeout)
            original(pacer)

        monkeypatch.setattr(WritePacer, "wait", wait)

    def once_after_first_write(self, action: Callable[[], None]) -> Callable[[int], None]:
        """A Progress.advance hook: when the first write has finished, hold the applier, run
        `action`, release the applier (once)."""
        fired = threading.Event()

        def advance(done: int) -> None:
            if done >= 1 and not fired.is_set():
                fired.set()
                self.open.clear()
                try:
                    action()
                finally:
                    self.open.set()

        return advance
