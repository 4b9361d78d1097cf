"""The per-operation timeout guard around a backend."""

from __future__ import annotations

import threading
import time

import pytest

from conformance.guarded import (
    BATCH_OPS_PER_TIMEOUT,
    BackendBroken,
    BackendContractError,
    GuardedDpif,
    OperationTimeout,
    batch_timeout,
)
from conformance.suite._flows import flow_spec
from reference.datapath import ReferenceDatapath
from reference.dpif import DpifNotFound, FlowStats, PutFlags, UfidArg, Upcall, key_hasher


class _Slow(ReferenceDatapath):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        self.release.wait(30)
        return super().flow_put(key, mask, actions, ufid=ufid, flags=flags)


def test_passes_results_and_errors_through() -> None:
    g = GuardedDpif(ReferenceDatapath(), timeout_s=5)
    spec = flow_spec(1)
    assert g.flow_put(spec.key, spec.mask, spec.actions, ufid=spec.ufid) == FlowStats()
    assert g.flow_get(ufid=spec.ufid).actions == spec.actions
    assert [f.ufid for f in g.flow_dump()] == [spec.ufid]
    with pytest.raises(DpifNotFound):
        g.flow_get(ufid=flow_spec(2).ufid)
    assert g.features.ufid
    assert g.broken is None


def _hang(g: GuardedDpif) -> None:
    spec = flow_spec(1)
    with pytest.raises(OperationTimeout, match=r"flow_put did not complete within 0\.2 s"):
        g.flow_put(spec.key, spec.mask, spec.actions, ufid=spec.ufid)
    with pytest.raises(BackendBroken, match="earlier test: flow_put did not complete"):
        g.flow_dump()


def test_timeout_in_the_main_thread() -> None:
    inner = _Slow()
    g = GuardedDpif(inner, timeout_s=0.2)
    try:
        _hang(g)
    finally:
        inner.release.set()


def test_timeout_outside_the_main_thread() -> None:
    inner = _Slow()
    g = GuardedDpif(inner, timeout_s=0.2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _hang(g)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(20)
    inner.release.set()
    assert not t.is_alive() and not errors, errors


def test_optional_extras_pass_through() -> None:
    class WithHash(ReferenceDatapath):
        description = "has a hash"

        def hash_bytes128(self, data: bytes, basis: int) -> bytes:
            return bytes(16)

    g = GuardedDpif(WithHash(), timeout_s=1)
    hasher = key_hasher(g)
    assert hasher is not None and hasher.hash_bytes128(b"x", 0) == bytes(16)
    assert g.description == "has a hash"


def test_alarm_is_cleared_after_each_call() -> None:
    g = GuardedDpif(ReferenceDatapath(), timeout_s=0.3)
    g.flow_flush()
    time.sleep(0.5)  # a leftover SIGALRM would interrupt this sleep with an exception


class _Garbage(ReferenceDatapath):
    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        return "ok"  # type: ignore[return-value]

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        return [None]  # type: ignore[list-item]

    def port_add(self, name: str) -> int:
        return True  # a bool is not a port number


def test_replies_of_the_wrong_type_are_contract_errors() -> None:
    g = GuardedDpif(_Garbage(), timeout_s=5)
    spec = flow_spec(1)
    with pytest.raises(BackendContractError, match="flow_put returned str 'ok', not FlowStats"):
        g.flow_put(spec.key, spec.mask, spec.actions, ufid=spec.ufid)
    with pytest.raises(BackendContractError, match="recv_upcalls returned a list whose item 0 is NoneType"):
        g.recv_upcalls()
    with pytest.raises(BackendContractError, match="port_add returned bool"):
        g.port_add("p")
    assert g.broken is None  # a wrong reply fails the test; the backend is still usable


@pytest.mark.parametrize(("n", "timeouts"), [(0, 1), (1, 1), (100, 1), (101, 2), (2000, 20)])
def test_batch_timeout_grows_with_the_batch(n: int, timeouts: int) -> None:
    assert batch_timeout(1.5, n) == 1.5 * timeouts
    assert timeouts == max(1, -(-n // BATCH_OPS_PER_TIMEOUT))
