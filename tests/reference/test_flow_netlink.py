"""The sans-I/O ovs_flow endpoint, driven by an independent encoder (pyroute2's message classes).

Requests are built and replies decoded with pyroute2 (as this project once did
against Linux 6.1 in a QEMU guest); error and done messages are read with plain struct.
"""

from __future__ import annotations

import errno
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink import genlmsg
from pyroute2.netlink.generic import ctrlmsg

from conformance.strategies import keys_with_masks
from reference.datapath import ReferenceDatapath
from reference.errors import OdpDecodeError
from reference.flow_netlink import DEFAULT_FAMILY_ID, GENL_ID_CTRL, FlowNetlinkEndpoint
from reference.ufid import Ufid
from tests.reference._flowbuild import eth_key, ipv4_key, ipv4_mask, meaning, output

FAMILY = DEFAULT_FAMILY_ID
# include/uapi/linux/netlink.h
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_ECHO = 0x1, 0x2, 0x4, 0x8
NLM_F_DUMP, NLM_F_EXCL, NLM_F_CREATE = 0x300, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
U = Ufid.parse("ufid:11111111-2222-3333-4444-555555555555")
V = Ufid.parse("ufid:aaaaaaaa-2222-3333-4444-555555555555")


class ovs_flow_msg(genlmsg):  # type: ignore[misc]  # pyroute2 ships no type information
    fields = (*genlmsg.fields, ("dpifindex", "i"))
    nla_map = (
        ("OVS_FLOW_ATTR_UNSPEC", "none"),
        ("OVS_FLOW_ATTR_KEY", "cdata"),
        ("OVS_FLOW_ATTR_ACTIONS", "cdata"),
        ("OVS_FLOW_ATTR_STATS", "cdata"),
        ("OVS_FLOW_ATTR_TCP_FLAGS", "uint8"),
        ("OVS_FLOW_ATTR_USED", "uint64"),
        ("OVS_FLOW_ATTR_CLEAR", "flag"),
        ("OVS_FLOW_ATTR_MASK", "cdata"),
        ("OVS_FLOW_ATTR_PROBE", "flag"),
        ("OVS_FLOW_ATTR_UFID", "cdata"),
        ("OVS_FLOW_ATTR_UFID_FLAGS", "uint32"),
        ("OVS_FLOW_ATTR_PAD", "none"),
    )


def request(cmd: int, attrs: list[tuple[str, object]], flags: int = 0, *, seq: int = 1, ifindex: int = 1) -> bytes:
    m = ovs_flow_msg()
    m["cmd"] = cmd
    m["version"] = 1
    m["dpifindex"] = ifindex
    m["attrs"] = attrs
    m["header"]["type"] = FAMILY
    m["header"]["flags"] = NLM_F_REQUEST | flags
    m["header"]["sequence_number"] = seq
    m["header"]["pid"] = 4242
    m.encode()
    return bytes(m.data)


def messages(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, seq, whole message) for each message in data (plain struct)."""
    out = []
    pos = 0
    while pos < len(data):
        length, mtype, flags, seq, _pid = struct.unpack_from("=IHHII", data, pos)
        out.append((mtype, flags, seq, data[pos : pos + length]))
        pos += (length + 3) & ~3
    return out


def error_of(msg: bytes) -> int:
    errno_: int = struct.unpack_from("=i", msg, 16)[0]
    return errno_


def decode(msg: bytes) -> dict[str, object]:
    r = ovs_flow_msg(msg)
    r.decode()
    return {"cmd": r["cmd"], "ifindex": r["dpifindex"], "attrs": [(name, value) for name, value in r["attrs"]]}


def endpoint(**kw: object) -> FlowNetlinkEndpoint:
    return FlowNetlinkEndpoint(ReferenceDatapath(**kw))  # type: ignore[arg-type]


def new_flow(key: bytes, ufid: Ufid | None, flags: int = NLM_F_CREATE, actions: bytes = b"") -> bytes:
    attrs: list[tuple[str, object]] = [("OVS_FLOW_ATTR_KEY", key), ("OVS_FLOW_ATTR_ACTIONS", actions)]
    if ufid is not None:
        attrs.append(("OVS_FLOW_ATTR_UFID", ufid.to_wire()))
    return request(1, attrs, flags)


def test_new_with_echo_and_ack() -> None:
    ep = endpoint()
    out = messages(ep.handle(new_flow(eth_key(), U, NLM_F_CREATE | NLM_F_ECHO | NLM_F_ACK)))
    assert [(t, s) for t, _, s, _ in out] == [(FAMILY, 1), (NLMSG_ERROR, 1)]
    reply = decode(out[0][3])
    assert reply["cmd"] == 1 and reply["ifindex"] == 1
    names = [n for n, _ in reply["attrs"]]  # type: ignore[attr-defined]
    assert names == ["OVS_FLOW_ATTR_UFID", "OVS_FLOW_ATTR_KEY", "OVS_FLOW_ATTR_MASK", "OVS_FLOW_ATTR_ACTIONS"]
    assert dict(reply["attrs"])["OVS_FLOW_ATTR_UFID"] == U.to_wire()  # type: ignore[call-overload]
    assert error_of(out[1][3]) == 0


def test_new_without_echo_or_ack_is_silent() -> None:
    assert endpoint().handle(new_flow(eth_key(), U)) == b""


@pytest.mark.parametrize("flag", [NLM_F_CREATE, NLM_F_EXCL])
def test_duplicate_is_eexist_error_message(flag: int) -> None:
    ep = endpoint()
    ep.handle(new_flow(eth_key(), U))
    req = new_flow(eth_key(), V, flag)
    ((mtype, _, seq, msg),) = messages(ep.handle(req))
    assert (mtype, seq, error_of(msg)) == (NLMSG_ERROR, 1, -errno.EEXIST)
    assert msg[20:36] == req[:16]  # the request's header is echoed in struct nlmsgerr


def test_get_terse_and_full() -> None:
    ep = endpoint()
    ep.handle(new_flow(ipv4_key("10.1.2.2"), U, actions=output(2)))
    ep.handle(
        request(
            1,
            [
                ("OVS_FLOW_ATTR_KEY", ipv4_key("10.1.2.9")),
                ("OVS_FLOW_ATTR_MASK", ipv4_mask(24)),
                ("OVS_FLOW_ATTR_ACTIONS", b""),
                ("OVS_FLOW_ATTR_UFID", V.to_wire()),
            ],
            NLM_F_CREATE,
        )
    )
    ((_, _, _, msg),) = messages(ep.handle(request(3, [("OVS_FLOW_ATTR_UFID", V.to_wire())])))
    attrs = dict(decode(msg)["attrs"])  # type: ignore[call-overload]
    # the masked key and the mask, as the kernel re-serialises them (every metadata attribute)
    assert meaning(attrs["OVS_FLOW_ATTR_KEY"]) == meaning(ipv4_key("10.1.2.0"))
    assert meaning(attrs["OVS_FLOW_ATTR_MASK"]) == meaning(ipv4_mask(24))
    terse = request(3, [("OVS_FLOW_ATTR_UFID", U.to_wire()), ("OVS_FLOW_ATTR_UFID_FLAGS", 7)])
    ((_, _, _, msg),) = messages(ep.handle(terse))
    assert [n for n, _ in decode(msg)["attrs"]] == ["OVS_FLOW_ATTR_UFID"]  # type: ignore[attr-defined]


def test_dump_is_multi_messages_then_done() -> None:
    ep = endpoint()
    ep.handle(new_flow(eth_key(dst=2), U) + new_flow(eth_key(dst=3), None) + new_flow(eth_key(dst=4), V))
    out = messages(ep.handle(request(3, [("OVS_FLOW_ATTR_UFID_FLAGS", 7)], NLM_F_DUMP, seq=9)))
    assert [t for t, _, _, _ in out] == [FAMILY, FAMILY, FAMILY, NLMSG_DONE]
    assert all(f & NLM_F_MULTI and s == 9 for _, f, s, _ in out)
    firsts = sorted(decode(m)["attrs"][0][0] for _, _, _, m in out[:3])  # type: ignore[index]
    assert firsts == ["OVS_FLOW_ATTR_KEY", "OVS_FLOW_ATTR_UFID", "OVS_FLOW_ATTR_UFID"]


def test_delete_echo_carries_final_stats_and_flush() -> None:
    ep = endpoint()
    ep.handle(new_flow(eth_key(), U))
    ((_, _, _, msg),) = messages(ep.handle(request(2, [("OVS_FLOW_ATTR_UFID", U.to_wire())], NLM_F_ECHO)))
    assert decode(msg)["cmd"] == 2
    ep.handle(new_flow(eth_key(dst=7), V))
    ((mtype, _, _, ack),) = messages(ep.handle(request(2, [], NLM_F_ACK)))
    assert (mtype, error_of(ack)) == (NLMSG_ERROR, 0)
    assert len(ep.datapath) == 0


@pytest.mark.parametrize(
    ("attrs", "ifindex", "code"),
    [
        ([("OVS_FLOW_ATTR_UFID", b"")], 1, errno.ERANGE),
        ([("OVS_FLOW_ATTR_UFID", U.to_wire())], 1, errno.ENOENT),
        ([], 1, errno.EINVAL),
        ([("OVS_FLOW_ATTR_UFID", U.to_wire())], 7, errno.ENODEV),
    ],
    ids=["zero-ufid", "absent", "no-identifier", "wrong-datapath"],
)
def test_get_errors(attrs: list[tuple[str, object]], ifindex: int, code: int) -> None:
    ((mtype, _, _, msg),) = messages(endpoint().handle(request(3, attrs, ifindex=ifindex)))
    assert (mtype, error_of(msg)) == (NLMSG_ERROR, -code)


def test_policy_errors_with_raw_attributes() -> None:
    ep = endpoint()
    ep.handle(new_flow(eth_key(), U))
    base = request(3, [("OVS_FLOW_ATTR_UFID", U.to_wire())])
    # append a PROBE flag carrying 4 bytes, and a 2-byte UFID_FLAGS: both ERANGE
    for extra in (struct.pack("=HHI", 8, 8, 1), struct.pack("=HHH", 6, 10, 7) + b"\0\0"):
        raw = struct.pack("=I", len(base) + len(extra)) + base[4:] + extra
        ((_, _, _, msg),) = messages(ep.handle(raw))
        assert error_of(msg) == -errno.ERANGE
    # an attribute type above OVS_FLOW_ATTR_MAX is ignored
    extra = struct.pack("=HHI", 8, 40, 1)
    raw = struct.pack("=I", len(base) + len(extra)) + base[4:] + extra
    ((mtype, _, _, _),) = messages(ep.handle(raw))
    assert mtype == FAMILY


def test_unknown_family_and_unknown_command() -> None:
    ep = endpoint()
    raw = request(3, [])
    other = raw[:4] + struct.pack("=H", FAMILY + 1) + raw[6:]
    assert error_of(messages(ep.handle(other))[0][3]) == -errno.ENOENT
    assert error_of(messages(ep.handle(request(9, [])))[0][3]) == -errno.EOPNOTSUPP


def test_non_requests_are_ignored_and_batches_answered_in_order() -> None:
    ep = endpoint()
    raw = new_flow(eth_key(), U)
    not_request = raw[:6] + struct.pack("=H", 0) + raw[8:]
    assert ep.handle(not_request) == b""
    batch = (
        new_flow(eth_key(dst=2), U, NLM_F_CREATE | NLM_F_ACK)
        + new_flow(eth_key(dst=2), U, NLM_F_CREATE | NLM_F_ACK)
        + request(3, [("OVS_FLOW_ATTR_UFID", U.to_wire())])
    )
    out = messages(ep.handle(batch))
    assert [(t, error_of(m) if t == NLMSG_ERROR else None) for t, _, _, m in out] == [
        (NLMSG_ERROR, 0),
        (NLMSG_ERROR, -errno.EEXIST),
        (FAMILY, None),
    ]


@pytest.mark.parametrize("data", [b"\x10\x00", struct.pack("=IHHII", 64, FAMILY, 1, 1, 1), None, "text", 5])
def test_bad_framing_raises(data: bytes) -> None:
    with pytest.raises(OdpDecodeError):
        endpoint().handle(data)


def test_nlctrl_resolves_the_family() -> None:
    m = ctrlmsg()
    m["cmd"] = 3  # CTRL_CMD_GETFAMILY
    m["version"] = 1
    m["attrs"] = [("CTRL_ATTR_FAMILY_NAME", "ovs_flow")]
    m["header"]["type"] = GENL_ID_CTRL
    m["header"]["flags"] = NLM_F_REQUEST
    m.encode()
    ((_, _, _, msg),) = messages(endpoint().handle(bytes(m.data)))
    r = ctrlmsg(msg)
    r.decode()
    assert r.get_attr("CTRL_ATTR_FAMILY_ID") == FAMILY
    assert r.get_attr("CTRL_ATTR_FAMILY_NAME") == "ovs_flow"


def test_legacy_endpoint_ignores_ufid() -> None:
    ep = endpoint(ufid_support=False)
    ep.handle(new_flow(eth_key(), U))
    ((_, _, _, msg),) = messages(ep.handle(request(3, [("OVS_FLOW_ATTR_UFID", U.to_wire())])))
    assert error_of(msg) == -errno.EINVAL  # no key and the UFID is not understood
    get = request(3, [("OVS_FLOW_ATTR_KEY", eth_key()), ("OVS_FLOW_ATTR_UFID", U.to_wire())])
    ((_, _, _, msg),) = messages(ep.handle(get))
    assert next(n for n, _ in decode(msg)["attrs"]) == "OVS_FLOW_ATTR_KEY"  # type: ignore[attr-defined]


def test_netdev_datapath_is_refused() -> None:
    with pytest.raises(ValueError):
        FlowNetlinkEndpoint(ReferenceDatapath(semantics="netdev"))


@settings(max_examples=60)
@given(km=keys_with_masks(compact=True), words=st.tuples(*[st.integers(0, 0xFFFFFFFF)] * 4), terse=st.booleans())
def test_round_trip_matches_the_datapath(km: tuple[bytes, bytes], words: tuple[int, ...], terse: bool) -> None:
    """Whatever the endpoint answers equals what the datapath itself reports for the same request."""
    key, mask = km
    ufid = Ufid.from_words(words)
    ep = endpoint()
    out = ep.handle(
        request(
            1,
            [
                ("OVS_FLOW_ATTR_KEY", key),
                ("OVS_FLOW_ATTR_MASK", mask),
                ("OVS_FLOW_ATTR_ACTIONS", b""),
                ("OVS_FLOW_ATTR_UFID", ufid.to_wire()),
            ],
            NLM_F_CREATE | NLM_F_ACK,
        )
    )
    ((_, _, _, ack),) = messages(out)
    if error_of(ack) != 0:
        assert len(ep.datapath) == 0
        return
    flow = ep.datapath.flow_get(ufid=ufid, terse=terse)
    attrs: list[tuple[str, object]] = [("OVS_FLOW_ATTR_UFID", ufid.to_wire())]
    if terse:
        attrs.append(("OVS_FLOW_ATTR_UFID_FLAGS", 7))
    ((_, _, _, msg),) = messages(ep.handle(request(3, attrs)))
    got = dict(decode(msg)["attrs"])  # type: ignore[call-overload]
    assert got["OVS_FLOW_ATTR_UFID"] == ufid.to_wire()
    assert got.get("OVS_FLOW_ATTR_KEY") == flow.key
    assert got.get("OVS_FLOW_ATTR_MASK") == flow.mask
    assert got.get("OVS_FLOW_ATTR_ACTIONS") == flow.actions


@settings(max_examples=150)
@given(data=st.data())
def test_mutated_requests_fail_cleanly_and_leave_the_table(data: st.DataObject) -> None:
    """Flip, cut or extend bytes of valid requests: only OdpDecodeError (bad framing) or netlink replies."""
    ep = endpoint()
    ep.handle(new_flow(eth_key(dst=2), U) + new_flow(eth_key(dst=3), None))
    before = sorted(repr(f) for f in ep.datapath.flow_dump())
    base = data.draw(
        st.sampled_from(
            [
                new_flow(eth_key(dst=4), V, NLM_F_CREATE | NLM_F_ACK),
                request(3, [("OVS_FLOW_ATTR_UFID", U.to_wire())], NLM_F_ACK),
                request(2, [("OVS_FLOW_ATTR_KEY", eth_key(dst=3))], NLM_F_ACK),
                request(4, [("OVS_FLOW_ATTR_UFID", U.to_wire()), ("OVS_FLOW_ATTR_CLEAR", True)], NLM_F_ACK),
            ]
        )
    )
    raw = bytearray(base)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(16, len(raw) - 1))  # keep the nlmsghdr so the message still frames
        raw[pos] = data.draw(st.integers(0, 255))
    try:
        out = messages(ep.handle(bytes(raw)))
    except OdpDecodeError:
        return
    errs = [error_of(m) for t, _, _, m in out if t == NLMSG_ERROR]
    if any(errs):
        assert sorted(repr(f) for f in ep.datapath.flow_dump()) == before


def test_legacy_endpoint_does_not_even_parse_ufid_attributes() -> None:
    ep = endpoint(ufid_support=False)
    ep.handle(new_flow(eth_key(), None))
    base = request(3, [("OVS_FLOW_ATTR_KEY", eth_key())])
    # a 2-byte UFID_FLAGS (ERANGE on a UFID-aware kernel) and a 0-byte UFID are unknown attributes here
    for extra in (struct.pack("=HHH", 6, 10, 7) + b"\0\0", struct.pack("=HH", 4, 9)):
        raw = struct.pack("=I", len(base) + len(extra)) + base[4:] + extra
        ((mtype, _, _, _),) = messages(ep.handle(raw))
        assert mtype == FAMILY
