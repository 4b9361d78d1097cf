"""The dpif contract module: error hierarchy, records, flags, the ABC's defaults."""

from __future__ import annotations

import errno
import pickle
from collections.abc import Iterator

import pytest

from reference.dpif import (
    DelOp,
    Dpif,
    DpifE2Big,
    DpifEFBig,
    DpifError,
    DpifExists,
    DpifFeatures,
    DpifFlow,
    DpifInvalid,
    DpifNotFound,
    DpifNotSupported,
    DpifOutOfRange,
    DpifTooBig,
    ExecuteOp,
    FlowStats,
    GetOp,
    PutFlags,
    PutOp,
    dpif_error,
    ufid_wire,
)
from reference.errors import UfidcertError
from reference.uapi import UfidFlags
from reference.ufid import Ufid

U = Ufid.parse("ufid:11111111-2222-3333-4444-555555555555")


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (errno.ENOENT, DpifNotFound),
        (errno.EEXIST, DpifExists),
        (errno.EINVAL, DpifInvalid),
        (errno.ERANGE, DpifOutOfRange),
        (errno.EOPNOTSUPP, DpifNotSupported),
        (errno.E2BIG, DpifE2Big),
        (errno.EFBIG, DpifEFBig),
    ],
)
def test_dpif_error_factory_maps_errno_to_class(code: int, cls: type[DpifError]) -> None:
    for signed in (code, -code):  # netlink replies carry -errno
        exc = dpif_error(signed, "why")
        assert type(exc) is cls
        assert exc.errno == code
        assert isinstance(exc, OSError) and isinstance(exc, UfidcertError)
        assert "why" in str(exc) and errno.errorcode[code] in str(exc)
    assert cls().errno == code


def test_too_big_covers_both_errnos() -> None:
    assert isinstance(dpif_error(errno.E2BIG), DpifTooBig)
    assert isinstance(dpif_error(errno.EFBIG), DpifTooBig)


def test_unknown_errno_gives_the_base_class() -> None:
    exc = dpif_error(errno.ENODEV)
    assert type(exc) is DpifError and exc.errno == errno.ENODEV


def test_errors_pickle_with_their_class_and_errno() -> None:
    exc = pickle.loads(pickle.dumps(DpifNotFound("gone")))
    assert type(exc) is DpifNotFound and exc.errno == errno.ENOENT and "gone" in str(exc)


def test_put_flags_are_ovs_values() -> None:
    # lib/dpif.h enum dpif_flow_put_flags
    assert (PutFlags.CREATE, PutFlags.MODIFY, PutFlags.ZERO_STATS, PutFlags.PROBE) == (1, 2, 4, 8)


def test_records_are_frozen_and_slotted() -> None:
    flow = DpifFlow(U, True, None, None, None, FlowStats())
    with pytest.raises(AttributeError):
        flow.key = b""  # type: ignore[misc]
    assert not hasattr(flow, "__dict__")
    assert FlowStats() == FlowStats(0, 0, 0, 0)


def test_ufid_wire_accepts_ufid_and_bytes_only() -> None:
    assert ufid_wire(U) == U.to_wire()
    assert ufid_wire(b"\x01\x02") == b"\x01\x02"
    with pytest.raises(TypeError):
        ufid_wire(5)  # type: ignore[arg-type]


class _Minimal(Dpif):
    """Only the abstract methods, backed by a dict: exercises the ABC's defaults."""

    def __init__(self) -> None:
        self.flows: dict[bytes, bytes] = {}
        self.closed = False

    def flow_put(self, key, mask, actions, *, ufid=None, flags=PutFlags.CREATE):  # type: ignore[no-untyped-def]
        if key in self.flows and not flags & PutFlags.MODIFY:
            raise DpifExists()
        self.flows[key] = actions
        return FlowStats()

    def flow_get(self, *, ufid=None, key=None, terse=False):  # type: ignore[no-untyped-def]
        if key not in self.flows:
            raise DpifNotFound()
        return DpifFlow(None, False, key, None, self.flows[key], FlowStats())

    def flow_del(self, *, ufid=None, key=None, terse=False):  # type: ignore[no-untyped-def]
        if key not in self.flows:
            raise DpifNotFound()
        del self.flows[key]
        return FlowStats()

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        return iter([])

    def flow_flush(self) -> None:
        self.flows.clear()

    @property
    def features(self) -> DpifFeatures:
        return DpifFeatures(False, UfidFlags.NONE, 0, "generic", packet_io=False)

    def close(self) -> None:
        self.closed = True


def test_abstract_methods_are_required() -> None:
    with pytest.raises(TypeError):
        Dpif()  # type: ignore[abstract]


def test_default_operate_runs_each_op_and_collects_errors() -> None:
    dp = _Minimal()
    res = dp.operate([PutOp(b"k", None, b"a"), PutOp(b"k", None, b"a"), GetOp(key=b"k"), DelOp(key=b"x")])
    assert [r.ok for r in res] == [True, False, True, False]
    assert isinstance(res[1].error, DpifExists) and isinstance(res[3].error, DpifNotFound)
    assert res[2].flow is not None and res[2].flow.actions == b"a"
    # execute is not implemented by this backend: its own error, not an exception
    (ex,) = dp.operate([ExecuteOp(b"pkt", b"", 1)])
    assert isinstance(ex.error, DpifNotSupported)


def test_default_packet_methods_say_not_supported() -> None:
    dp = _Minimal()
    for call in (
        lambda: dp.port_add("p"),
        lambda: dp.port_del(1),
        lambda: dp.inject(1, b""),
        dp.recv_upcalls,
        lambda: dp.execute(b"", b"", in_port=1),
    ):
        with pytest.raises(DpifNotSupported):
            call()


def test_context_manager_closes() -> None:
    with _Minimal() as dp:
        assert not dp.closed  # type: ignore[attr-defined]
    assert dp.closed  # type: ignore[attr-defined]


def test_optional_extras_are_found_by_presence() -> None:
    from reference.datapath import ReferenceDatapath
    from reference.dpif import datapath_clock, flow_count, key_hasher

    class WithHash(ReferenceDatapath):
        def hash_bytes128(self, data: bytes, basis: int) -> bytes:
            return bytes(16)

    dp = ReferenceDatapath()
    assert key_hasher(dp) is None and key_hasher(object()) is None
    hasher = key_hasher(WithHash())
    assert hasher is not None and hasher.hash_bytes128(b"x", 0) == bytes(16)
    clock = datapath_clock(dp)
    assert clock is not None and isinstance(clock.clock_ms(), int)
    assert datapath_clock(object()) is None
    assert flow_count(dp) == 0 and flow_count(object()) is None
