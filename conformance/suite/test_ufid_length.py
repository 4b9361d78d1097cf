"""UFID length rules (UFID-LEN-*): the kernel keeps 1..16 opaque bytes, refuses 0, ignores more than 16."""

from __future__ import annotations

import errno

from conformance.suite._flows import FlowSpec, eth_mask, flow_spec, output
from conformance.suite._helpers import expect_errno, requirement
from reference.dpif import Dpif


@requirement("UFID-LEN-001")
def test_short_ufids_are_identifiers(dpif: Dpif) -> None:
    raw = [bytes([n]) * n for n in (1, 2, 4, 7, 8, 15, 16)]
    for n, ufid in enumerate(raw, start=1):
        spec = flow_spec(n, with_ufid=False)
        dpif.flow_put(spec.key, spec.mask, output(n), ufid=ufid)
    for n, ufid in enumerate(raw, start=1):
        got = dpif.flow_get(ufid=ufid)
        assert got.actions == output(n), f"the {len(ufid)}-byte UFID found another flow"
        echoed = got.ufid_bytes if got.ufid_bytes is not None else (got.ufid.to_wire() if got.ufid else None)
        assert echoed == ufid and got.ufid_present, f"{len(ufid)}-byte UFID {ufid.hex()} echoed as {echoed!r}"
    dumped = sorted(
        f.ufid_bytes if f.ufid_bytes is not None else (f.ufid.to_wire() if f.ufid else b"") for f in dpif.flow_dump()
    )
    assert dumped == sorted(raw), "the dump does not return each short UFID as installed"


@requirement("UFID-LEN-002")
def test_zero_length_ufid_is_erange(dpif: Dpif) -> None:
    spec = flow_spec(1, with_ufid=False)
    with expect_errno(errno.ERANGE, "put with a 0-byte UFID"):
        dpif.flow_put(spec.key, spec.mask, spec.actions, ufid=b"")
    assert list(dpif.flow_dump()) == [], "a rejected put installed a flow"


@requirement("UFID-LEN-003")
def test_long_ufid_is_ignored(dpif: Dpif) -> None:
    spec = flow_spec(1, with_ufid=False)
    dpif.flow_put(spec.key, spec.mask, spec.actions, ufid=bytes(range(1, 21)))
    got = dpif.flow_get(key=spec.key)
    assert got.actions == spec.actions, "the flow with a 20-byte UFID is not found by its key"
    assert not got.ufid_present, "a 20-byte UFID was kept instead of ignored"


@requirement("UFID-LEN-004")
def test_wire_form_addresses_the_same_flow(dpif: Dpif) -> None:
    a = flow_spec(1)
    b = FlowSpec(flow_spec(2).key, eth_mask(), output(3), flow_spec(2).ufid)
    assert a.ufid is not None and b.ufid is not None
    dpif.flow_put(a.key, a.mask, a.actions, ufid=a.ufid)
    dpif.flow_put(b.key, b.mask, b.actions, ufid=b.ufid.to_wire())
    assert dpif.flow_get(ufid=a.ufid.to_wire()).actions == a.actions, "wire bytes did not find the Ufid's flow"
    got = dpif.flow_get(ufid=b.ufid)
    assert got.actions == b.actions and got.ufid == b.ufid, "the Ufid did not find the flow put with wire bytes"
