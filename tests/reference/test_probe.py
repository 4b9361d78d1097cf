"""probe_ufid: OVS's check_ufid over any Dpif."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.datapath import ReferenceDatapath
from reference.dpif import Dpif, DpifFeatures, DpifFlow, FlowStats, PutFlags, UfidArg
from reference.probe import PROBE_ETHERTYPE, probe_key, probe_ufid
from reference.ufid import Ufid


class Recorder(Dpif):
    """Wraps a Dpif and records every call (name, ufid, key, flags)."""

    def __init__(self, inner: Dpif) -> None:
        self.inner = inner
        self.calls: list[tuple[str, object, object, object]] = []

    def flow_put(self, key, mask, actions, *, ufid=None, flags=PutFlags.CREATE):  # type: ignore[no-untyped-def]
        self.calls.append(("put", ufid, key, flags))
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)

    def flow_get(self, *, ufid=None, key=None, terse=False):  # type: ignore[no-untyped-def]
        self.calls.append(("get", ufid, key, terse))
        return self.inner.flow_get(ufid=ufid, key=key, terse=terse)

    def flow_del(self, *, ufid=None, key=None, terse=False):  # type: ignore[no-untyped-def]
        self.calls.append(("del", ufid, key, terse))
        return self.inner.flow_del(ufid=ufid, key=key, terse=terse)

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        return self.inner.flow_dump(terse=terse)

    def flow_flush(self) -> None:
        self.inner.flow_flush()

    @property
    def features(self) -> DpifFeatures:
        return self.inner.features


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [({}, True), ({"semantics": "netdev"}, True), ({"ufid_support": False}, False)],
    ids=["kernel", "netdev", "legacy"],
)
def test_probe_result_and_cleanup(kwargs: dict[str, object], expected: bool) -> None:
    dp = ReferenceDatapath(**kwargs)  # type: ignore[arg-type]
    assert probe_ufid(dp) is expected
    assert dp.features.ufid is expected  # the declared feature agrees with the probe
    assert len(dp) == 0  # the probe flow is gone


def test_probe_procedure_is_check_ufid() -> None:
    rec = Recorder(ReferenceDatapath())
    assert probe_ufid(rec, secret=42)
    names = [c[0] for c in rec.calls]
    assert names == ["put", "get", "del"]
    _, ufid, key, flags = rec.calls[0]
    assert flags == PutFlags.CREATE | PutFlags.MODIFY | PutFlags.PROBE
    assert ufid == Ufid.from_key(probe_key(), 42)
    assert rec.calls[1][1:3] == (ufid, key) and rec.calls[2][1:3] == (ufid, key)
    # the probe key ends with eth_type(0x1234) (attribute 6, big-endian payload)
    assert isinstance(key, bytes)
    assert key.endswith(b"\x06\x00\x06\x00" + PROBE_ETHERTYPE.to_bytes(2, "big") + b"\0\0")


def test_leftover_probe_flow_does_not_fail_the_probe() -> None:
    # MODIFY is in the put so that a flow left by a killed process is fine.
    dp = ReferenceDatapath()
    ufid = Ufid.from_key(probe_key(), 5)
    dp.flow_put(probe_key(), None, b"", ufid=ufid)
    assert probe_ufid(dp, secret=5)


class _WrongUfid(ReferenceDatapath):
    """Echoes a different UFID than the one stored: must probe as unsupported."""

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        f = super().flow_get(ufid=ufid, key=key, terse=terse)
        return DpifFlow(Ufid.from_int(1), True, f.key, f.mask, f.actions, f.stats)


class _PutFails(ReferenceDatapath):
    def flow_put(self, *a: object, **k: object) -> FlowStats:
        from reference.dpif import DpifInvalid

        raise DpifInvalid("no")


def test_wrong_echo_or_failing_put_is_unsupported() -> None:
    assert not probe_ufid(_WrongUfid())
    assert not probe_ufid(_PutFails())


@given(secret=st.integers(0, 0xFFFFFFFF))
def test_probe_is_true_for_any_secret(secret: int) -> None:
    assert probe_ufid(ReferenceDatapath(), secret=secret)
