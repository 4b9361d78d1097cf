"""Hypothesis properties over generated UFIDs, keys, masks, batches, traffic and frames.

Example counts come from ``--dpif-profile`` (see :mod:`conformance.suite._settings`).
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance import strategies as cs
from conformance.plugin import BackendSession, is_infrastructure_error
from conformance.suite._flows import (
    FlowSpec,
    ReturnedMatch,
    eth_frame,
    eth_mask,
    flow_spec,
    flow_text,
    normalise_attrs,
    output,
)
from conformance.suite._helpers import dump_set, has, install, linux_release, ovs_release, requirement, traffic_port
from conformance.suite._settings import property_settings
from reference.datapath import ReferenceDatapath
from reference.dpif import Dpif, DpifError
from reference.ufid import Ufid


def _model(session: BackendSession) -> ReferenceDatapath:
    if session.semantics not in ("kernel", "netdev"):
        pytest.skip(f"not applicable: the reference models kernel and netdev semantics, not {session.semantics}")
    if session.semantics == "netdev":
        # The model follows the running OVS where its checks changed (ND masks, v3.3.0).
        return ReferenceDatapath(semantics="netdev", ovs_release=ovs_release(session))
    return ReferenceDatapath(semantics="kernel", ufid_support=has(session, "ufid"))


def _outcome(fn: object) -> tuple[str, object]:
    try:
        return ("ok", fn())  # type: ignore[operator]
    except DpifError as exc:
        if is_infrastructure_error(exc):
            raise
        return ("errno", exc.errno)


@requirement("UFID-ID-003")
@property_settings()
@given(ufid=cs.ufids(), n=st.integers(1, 200))
def test_any_ufid_is_echoed(dpif_session: BackendSession, ufid: Ufid, n: int) -> None:
    dpif = dpif_session.fresh()
    spec = FlowSpec(flow_spec(n).key, eth_mask(), output(2), ufid)
    install(dpif, spec)
    got = dpif.flow_get(ufid=ufid)
    assert got.ufid == ufid, f"UFID {ufid} echoed as {got.ufid}"
    (dumped,) = list(dpif.flow_dump())
    assert dumped.ufid == ufid, f"UFID {ufid} dumped as {dumped.ufid}"


@requirement("UFID-KEY-001")
@property_settings(0.5)
# Mostly pairs a datapath accepts (so the success path and the returned key/mask
# are compared); one draw in four from the text-oriented generator, whose
# pairs a datapath mostly refuses, to compare the refusals too.
@given(
    pair=st.one_of(
        cs.datapath_keys_with_masks(),
        cs.datapath_keys_with_masks(),
        cs.datapath_keys_with_masks(),
        cs.keys_with_masks(),
    ),
    with_ufid=st.booleans(),
)
def test_generated_keys_match_the_reference(
    dpif_session: BackendSession, pair: tuple[bytes, bytes], with_ufid: bool
) -> None:
    key, mask = pair
    dpif, model = dpif_session.fresh(), _model(dpif_session)
    ufid = Ufid.from_int(0x1234_5678_9ABC) if with_ufid and has(dpif_session, "ufid") else None
    got = _outcome(lambda: dpif.flow_put(key, mask, output(2), ufid=ufid))
    want = _outcome(lambda: model.flow_put(key, mask, output(2), ufid=ufid))
    assert (got[0], got[1] if got[0] == "errno" else None) == (want[0], want[1] if want[0] == "errno" else None), (
        f"put outcome {got} differs from the reference's {want}"
    )
    if got[0] == "ok":
        # Compared by meaning, as OVS userspace reads a reply back: the masked
        # values and the mask, field by field (match_view). Bits of the key
        # under a zero mask are not part of the match: neither datapath
        # promises to keep them (dpif-netdev stores a put as a struct flow and
        # drops, e.g., an IPv4 frag value under a zero frag mask), and OVS
        # relies on the masked key only (ofproto-dpif-upcall.c revalidate_ukey
        # re-translates and checks the datapath mask, not wildcarded values).
        # Original keys are checked where they are the requirement (UFID-DUMP-004).
        returned = [ReturnedMatch.of(f) for f in dpif.flow_dump()]
        expected = [ReturnedMatch.of(f) for f in model.flow_dump()]
        assert returned == expected, (
            f"the returned key/mask differ from the reference's for the put of {flow_text(key, mask)}"
        )


@requirement("UFID-OP-002")
@property_settings()
@given(data=st.data())
def test_batch_equals_one_by_one(dpif_session: BackendSession, data: st.DataObject) -> None:
    ops = data.draw(cs.dpif_batches(ufid=has(dpif_session, "ufid")))
    dpif = dpif_session.fresh()
    batched = [(r.error.errno if r.error else 0) for r in dpif.operate(ops)]
    after = dump_set(dpif)
    dpif = dpif_session.fresh()
    single = [(r.error.errno if r.error else 0) for op in ops for r in dpif.operate([op])]
    assert batched == single, f"batched outcomes {batched} differ from one by one {single}"
    assert dump_set(dpif) == after, "the batch left a different table"


@requirement("UFID-PUT-008")
@property_settings()
@given(key=st.binary(max_size=40), mask=st.one_of(st.none(), st.binary(max_size=40)), actions=st.binary(max_size=16))
def test_failed_put_changes_nothing(
    dpif_session: BackendSession, key: bytes, mask: bytes | None, actions: bytes
) -> None:
    dpif = dpif_session.fresh()
    install(dpif, flow_spec(1, with_ufid=has(dpif_session, "ufid")))
    before = dump_set(dpif)
    try:
        dpif.flow_put(key, mask, actions)
    except DpifError as exc:
        if is_infrastructure_error(exc):
            raise
        assert dump_set(dpif) == before, "a rejected put changed the table"


@requirement("UFID-TERSE-002")
@property_settings(0.5)
@given(traffic=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 4), st.sampled_from([60, 99])), max_size=8))
def test_terse_full_agree_under_traffic(dpif_session: BackendSession, traffic: list[tuple[int, int, int]]) -> None:
    port = traffic_port(dpif_session)
    dpif: Dpif = dpif_session.fresh()
    for n in range(1, 6):
        install(dpif, flow_spec(n, port=port or 1))
    if port is not None:
        for src, count, size in traffic:
            for _ in range(count):
                dpif.inject(port, eth_frame(src, size=size))
    full = sorted((str(f.ufid), f.stats.n_packets, f.stats.n_bytes) for f in dpif.flow_dump())
    terse = sorted((str(f.ufid), f.stats.n_packets, f.stats.n_bytes) for f in dpif.flow_dump(terse=True))
    assert terse == full, f"terse dump {terse} differs from full {full}"


@requirement("UFID-UPCALL-002")
@property_settings(0.5)
@given(frame=cs.frames())
def test_upcall_key_is_the_extracted_key(dpif_session: BackendSession, frame: bytes) -> None:
    from reference.errors import UfidcertError
    from reference.odp.extract import extract_key

    port = dpif_session.ports(1)[0]
    dpif = dpif_session.fresh()
    try:
        # The key of the kernel release that runs, when the backend names one
        # (its provenance): IPV6_EXTHDRS exists only since Linux 5.18.
        want = extract_key(frame, port, kernel=linux_release(dpif_session))
    except UfidcertError:
        assume(False)  # a frame the kernel drops before the upcall: nothing to compare
        return
    dpif.inject(port, frame)
    ups = dpif.recv_upcalls(8)
    assert len(ups) == 1, f"{len(ups)} upcalls for one missed frame"
    assert normalise_attrs(ups[0].key) == normalise_attrs(want), (
        f"upcall key {flow_text(ups[0].key, None)} (bytes {ups[0].key.hex()}) differs from the extracted key "
        f"{flow_text(want, None)} (bytes {want.hex()})"
    )
