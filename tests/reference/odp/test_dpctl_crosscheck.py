"""Cross-check against a real ovs-vswitchd (Debian's 3.1, userspace datapath).

Flows are written with ``ovs-appctl dpctl/add-flow`` and read back with
``dpctl/dump-flows`` (compact) and ``dpctl/dump-flows -m --no-names``
(verbose). The daemon's printer is OVS's own ``odp_flow_format``; our
``format_key(parse_flow(text))`` must print every dumped key identically.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, note, settings

from conformance.backends._ovsd import PrivateOvs, ovs_available
from conformance.backends.unixctl import UnixctlError
from conformance.strategies import keys_with_masks
from reference.odp import format_key, parse_flow
from reference.odp.fitness import KeyFitness, fitness_report
from reference.odp.keys import Attribute, decode_key, encode_key
from reference.uapi import KeyAttr
from reference.ufid import Ufid
from tests._ovs import private_ovs
from tests._support import require

# Flows the userspace datapath accepts (complete keys, exact in_port).
CURATED = [
    "in_port(1),eth(src=50:54:00:00:00:09,dst=50:54:00:00:00:0a),eth_type(0x0800),"
    "ipv4(src=10.0.0.2,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)",
    "in_port(1),eth(),eth_type(0x0800),ipv4(src=172.31.110.10/255.255.0.0,frag=no)",
    "in_port(2),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x8100),vlan(vid=99,pcp=7),"
    "encap(eth_type(0x0800),ipv4(src=1.1.1.1,dst=2.2.2.2,proto=6,tos=0,ttl=64,frag=no),tcp(src=1,dst=2),"
    "tcp_flags(syn|ack))",
    "ct_state(+trk-new),ct_zone(5),ct_mark(0x1/0xff),ct_label(0x1234/0xffff),in_port(2),eth(),eth_type(0x86dd),"
    "ipv6(src=::1,dst=fe80::1/ffff::,label=0x5,proto=58,tclass=0,hlimit=255,frag=no),icmpv6(type=135,code=0),"
    "nd(target=::2,sll=00:00:00:00:00:01)",
    "skb_priority(0x5),skb_mark(0x7/0xf),in_port(1),eth(src=00:00:00:00:00:01/ff:ff:ff:00:00:00),eth_type(0x0806),"
    "arp(sip=1.2.3.4,op=1)",
    "in_port(1),eth(),eth_type(0x0800),ipv4(src=10.1.2.3,dst=10.3.2.1/255.255.255.0,proto=17,tos=0x10/0xfc,"
    "ttl=3/0xf0,frag=no),udp(src=53,dst=1024/0xfc00)",
    "in_port(1),eth(),eth_type(0x0800),ipv4(proto=6,frag=no),tcp(dst=80),tcp_flags(+syn-ack)",
    "in_port(1),eth(),eth_type(0x0800),ipv4(proto=132,frag=no),sctp(src=9/0xff)",
    "in_port(2),eth(),eth_type(0x8847),mpls(label=100,tc=3,ttl=64,bos=1)",
    "in_port(2),eth(),eth_type(0x86dd),ipv6(src=2001:db8::1/ffff:ffff::,label=0x12345/0xff,proto=6,frag=no),"
    "tcp(src=443)",
    "dp_hash(0x15/0xff),in_port(1),eth(),eth_type(0x0800),ipv4(frag=first)",
    "ct_state(+trk+est),ct_tuple4(src=10.0.0.1,dst=10.0.0.2,proto=6,tp_src=1000,tp_dst=80),in_port(1),eth(),"
    "eth_type(0x0800),ipv4(proto=6,frag=no),tcp(dst=80)",
    "tunnel(tun_id=0x7f10354,src=10.10.10.10,dst=20.20.20.20,ttl=64,flags(csum|key)),in_port(1),eth(),"
    "eth_type(0x0800),ipv4(frag=no)",
    "in_port(1),eth(),eth_type(0x1234)",
    "tunnel(tun_id=0xfedcba9876543210,src=10.0.0.1,dst=10.0.0.2,ttl=128,erspan(ver=1,idx=0x7),flags(df|key)),"
    "in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)",
    "tunnel(tun_id=0x1,src=10.0.0.1,dst=10.0.0.2,ttl=128,gtpu(flags=0x30,msgtype=255),flags(key)),in_port(1),"
    "eth(),eth_type(0x0800),ipv4(frag=no)",
    "tunnel(tun_id=0x7f10354/0xff,src=10.10.10.10/255.255.255.0,dst=20.20.20.20/255.255.255.0,ttl=64,"
    "vxlan(gbp(id=10/0xff,flags=0xb)),flags(oam|csum|key)),in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)",
    "tunnel(tun_id=0x7f10354/0xff,src=10.10.10.10/255.255.255.0,dst=20.20.20.20/255.255.255.0,ttl=64,"
    "geneve({class=0,type=0,len=4,0xa/0xff}{class=0xffff,type=0x1,len=4,0xffffffff}),flags(csum|key)),in_port(1),"
    "eth(),eth_type(0x0800),ipv4(frag=no)",
    "tunnel(ipv6_src=2001::1,ipv6_dst=2001::2,ttl=64,tp_src=1,tp_dst=4789,flags(-df+csum)),in_port(1),eth(),"
    "eth_type(0x0800),ipv4(frag=no)",
    "in_port(1),packet_type(ns=1,id=0x800),eth_type(0x0800),ipv4(frag=no)",
    # OVS prints ct_tuple6 ports as src_port=/dst_port=, which its own parser refuses.
    "ct_state(+trk),ct_tuple6(src=::1,dst=::2,proto=6,tp_src=1,tp_dst=2),in_port(1),eth(),eth_type(0x86dd),"
    "ipv6(proto=6,frag=no),tcp(dst=2)",
    # Zero values with an exact mask print as "0"; with a partial one as "0/0x..".
    "ct_zone(0),ct_mark(0),ct_label(0),in_port(1),eth(),eth_type(0x1234)",
    "ct_zone(0/0xff),ct_mark(0/0xf),ct_label(0/0xf),in_port(1),eth(),eth_type(0x1234)",
]


@pytest.fixture(scope="module")
def ovs() -> Iterator[PrivateOvs]:
    yield from private_ovs()


def _dumped_keys(ovs: PrivateOvs, verbose: bool) -> list[tuple[str | None, str]]:
    args = ["-m", "--no-names"] if verbose else []
    out = ovs.appctl("dpctl/dump-flows", *args, ovs.dp)
    rows: list[tuple[str | None, str]] = []
    for line in out.splitlines():
        if not line or line.startswith("flow-dump"):
            continue
        key = line.split(", packets:", 1)[0]
        ufid = None
        if key.startswith("ufid:"):
            ufid, key = key.split(", ", 1)
        rows.append((ufid, key))
    return rows


def _check_dump(ovs: PrivateOvs) -> int:
    n = 0
    for verbose in (False, True):
        for ufid, text in _dumped_keys(ovs, verbose):
            flow = parse_flow(text)
            assert flow.mask is not None
            assert format_key(flow.key, flow.mask, verbose=verbose) == text
            if ufid is not None:
                assert str(parse_flow(f"{ufid},{text}").ufid) == ufid
            n += 1
    return n


@pytest.mark.parametrize("flow", CURATED)
def test_dumped_flows_print_identically(ovs: PrivateOvs, flow: str) -> None:
    ovs.appctl("dpctl/del-flows", ovs.dp)
    ufid = Ufid.from_words((0x01234567, 0x89ABCDEF, 0x02468ACE, 0x13579BDF))
    ovs.appctl("dpctl/add-flow", ovs.dp, f"{ufid},{flow}", "2")
    try:
        assert _check_dump(ovs) == 2
        rows = _dumped_keys(ovs, True)
        assert [u for u, _ in rows] == [str(ufid)]
        # The daemon may add attributes (recirc_id, packet_type, ...) but every
        # attribute we wrote comes back.
        ours = decode_key(parse_flow(flow).key).types()
        theirs = set(decode_key(parse_flow(rows[0][1]).key).types())
        assert set(ours) <= theirs
    finally:
        ovs.appctl("dpctl/del-flows", ovs.dp)


def _dpif_ready(pair: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    # dpif-netdev needs an exact in_port; replace whatever was generated.
    key, mask = pair
    ka = [a for a in decode_key(key).attrs if a.type != KeyAttr.IN_PORT]
    ma = [a for a in decode_key(mask).attrs if a.type != KeyAttr.IN_PORT]
    return (
        encode_key([Attribute(KeyAttr.IN_PORT, struct.pack("=I", 1)), *ka]),
        encode_key([Attribute(KeyAttr.IN_PORT, b"\xff" * 4), *ma]),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys_with_masks().map(_dpif_ready))
def test_generated_flows_print_identically(ovs: PrivateOvs, pair: tuple[bytes, bytes]) -> None:
    text = format_key(*pair)
    note(text)
    try:
        ovs.appctl("dpctl/add-flow", ovs.dp, text, "2")
    except OSError:
        # The datapath refuses inconsistent keys (e.g. ipv6 proto=142 with
        # icmpv6); only flows it stores can be dumped.
        return
    try:
        assert _check_dump(ovs) == 2
    finally:
        ovs.appctl("dpctl/del-flows", ovs.dp)


# --- keys WITHOUT a mask: dpctl/normalize-actions prints them ---------------------------------------------------------
# lib/dpctl.c dpctl_normalize_actions parses the flow without a mask and
# prints "input flow: " with odp_flow_format(key, NULL mask, verbosity), the
# same printer ovs-vswitchd uses for upcall keys; "-m" selects the verbose form.

UNMASKED = [
    # No mask: ct_zone(), ct_mark() and ct_label() print with empty
    # parentheses whatever their value (mask_empty(NULL) and format_u128).
    "ct_zone(0),ct_mark(0),ct_label(0),in_port(1),eth(),eth_type(0x1234)",
    "ct_zone(5),ct_mark(0x7),ct_label(0x9),in_port(1),eth(),eth_type(0x1234)",
    "ct_state(0),ct_zone(0xffff),ct_mark(0xffffffff),ct_label(0xffffffffffffffffffffffffffffffff),in_port(1),eth(),"
    "eth_type(0x0800),ipv4(src=1.2.3.4,proto=6,frag=no),tcp(dst=80)",
    "tunnel(tun_id=0x0,dst=1.1.1.1,ttl=64),skb_mark(0),in_port(1),eth(),eth_type(0x86dd),"
    "ipv6(src=::1,label=0,proto=17,frag=no),udp(src=1,dst=2)",
    *(flow for flow in CURATED if "/" not in flow and "+" not in flow),  # those without masks
]


def _input_flow(ovs: PrivateOvs, text: str, verbose: bool) -> str | None:
    args = ["-m"] if verbose else []
    try:
        reply = ovs.appctl("dpctl/normalize-actions", *args, text, "2")
    except UnixctlError as err:
        # odp_flow_key_to_flow may refuse the key after it was printed.
        reply = err.reply or ""
    for line in reply.splitlines():
        if line.startswith("input flow: "):
            return line[len("input flow: ") :]
    return None  # OVS's parser refused the text


@pytest.mark.parametrize("flow", UNMASKED)
def test_unmasked_keys_print_as_the_daemon_prints_them(ovs: PrivateOvs, flow: str) -> None:
    key = parse_flow(flow, with_mask=False).key
    for verbose in (False, True):
        theirs = _input_flow(ovs, flow, verbose)
        assert theirs is not None, flow
        assert format_key(key, verbose=verbose) == theirs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys_with_masks())
def test_generated_unmasked_keys_print_as_the_daemon_prints_them(ovs: PrivateOvs, pair: tuple[bytes, bytes]) -> None:
    key = pair[0]
    text = format_key(key, verbose=True)
    note(text)
    for verbose in (False, True):
        theirs = _input_flow(ovs, text, verbose)
        if theirs is None:
            return  # a form OVS 3.1 cannot parse (see docs/keys.md)
        assert format_key(key, verbose=verbose) == theirs


# --- an empty MPLS attribute, as ovs-vswitchd itself prints it --------------------------------------------------------


def test_empty_mpls_stack_as_the_daemon_logs_it() -> None:
    # OVS userspace makes an empty MPLS attribute too: for an MPLS frame with
    # less than one label stack entry lib/flow.c flow_count_mpls_labels() is
    # 0 and odp_flow_key_from_flow__ reserves 0 bytes (as Linux does for a
    # cut stack). The revalidator then refuses the key and logs it with
    # odp_flow_key_format (verbose, no mask): that text is the oracle. A
    # daemon of its own, since those warnings are rate-limited (odp-util.c)
    # and other tests here provoke them.
    reason = ovs_available()
    require(reason is None, reason or "")
    vsctl = shutil.which("ovs-vsctl")
    require(vsctl is not None, "ovs-vsctl is needed (apt-get install openvswitch-switch)")
    assert vsctl is not None
    for ovs in private_ovs():
        lines = _refused_key_log(ovs, vsctl)
    logged = [line.split("the flow key in error is: ", 1)[1] for line in lines if "the flow key in error is: " in line]
    assert logged, "ovs-vswitchd logged no refused key"
    text = logged[0]
    assert text.endswith("eth_type(0x8847),mpls((bad key length 0)")
    key = parse_flow(text, with_mask=False).key
    assert decode_key(key).get(KeyAttr.MPLS) == Attribute(KeyAttr.MPLS, b"")
    assert format_key(key, verbose=True) == text
    report = fitness_report(key)
    assert report.fitness == KeyFitness.ERROR
    assert any(line.endswith(f"|WARN|{report.detail}") for line in lines), report.detail


def _refused_key_log(ovs: PrivateOvs, vsctl: str) -> list[str]:
    """Log lines of ``ovs`` after an MPLS frame without a whole label entry entered a bridge."""
    db = [vsctl, f"--db=unix:{ovs.db_sock}", "--timeout=20"]
    with open(ovs.log_path, "rb") as log:
        log.seek(0, 2)
        subprocess.run(
            [*db, "add-br", "h10br", "--", "set", "bridge", "h10br", "datapath_type=netdev", "fail-mode=standalone",
             "--", "add-port", "h10br", "h10q1", "--", "set", "interface", "h10q1", "type=dummy"],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            ovs.appctl("netdev-dummy/receive", "h10q1", "0a00000000010a00000000028847" + "0001")
            text = ""
            for _ in range(200):  # the revalidator runs every 500 ms
                text += log.read().decode(errors="replace")
                if "the flow key in error is: " in text and text.endswith("\n"):
                    break
                time.sleep(0.1)
        finally:
            subprocess.run([*db, "--if-exists", "del-br", "h10br"], check=True, capture_output=True)
    return text.splitlines()
