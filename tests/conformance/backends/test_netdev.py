"""NetdevDpif against the real ovs-vswitchd 3.1 userspace datapath.

What the backend returns is checked against independent sources: the daemon's
own text read back with the PyPI ``ovs`` package's ``ODPFlow`` parser, the
reference datapath (``semantics="netdev"``) for errno outcomes outside the
three pinned 3.1.0 differences (tests/reference/test_datapath_vs_ovs.py), and
the daemon's process table, network namespaces and run directory for teardown.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import strategies as cs
from conformance.backends._ovsd import PrivateOvs, ovs_available
from conformance.backends.netdev import NetdevDpif, netdev, parse_flow_line, parse_stats
from conformance.errors import BackendUnavailable, UsageError
from reference._netlink import pack_attr
from reference.datapath import ReferenceDatapath
from reference.dpif import (
    DpifError,
    DpifExists,
    DpifInvalid,
    DpifNotFound,
    DpifNotSupported,
    FlowStats,
    PutFlags,
)
from reference.odp import canonical_key, extract_key, format_key, parse_flow
from reference.probe import probe_ufid
from reference.uapi import ActionAttr, KeyAttr
from reference.ufid import Ufid
from tests._ovs import assert_no_leftovers, netns_names
from tests._support import require, require_module

K = (
    "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),"
    "ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,tos=0,ttl=64,frag=no),tcp(src=1,dst=2)"
)
U = Ufid.parse("ufid:11111111-2222-3333-4444-555555555555")
V = Ufid.parse("ufid:aaaaaaaa-2222-3333-4444-555555555555")


def _dpctl_netdev(**options: str) -> NetdevDpif:
    """The netdev backend through dpctl (the default access path), typed as what it is."""
    d = netdev(**options)
    assert isinstance(d, NetdevDpif)
    return d


def output(port: int) -> bytes:
    return pack_attr(ActionAttr.OUTPUT, struct.pack("=I", port))


def key_of(text: str) -> tuple[bytes, bytes | None]:
    flow = parse_flow(text)
    return flow.key, flow.mask


def _assert_no_leftovers(pids: list[int], netns: str, rundir: Path) -> None:
    assert_no_leftovers(pids, netns, rundir)
    assert "ufidcert-" not in _root_links(), "a tap device of the daemon appeared in the root namespace"


def _root_links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def dp() -> Iterator[NetdevDpif]:
    require(ovs_available() is None, f"private ovs-vswitchd unavailable: {ovs_available()}")
    d = _dpctl_netdev()
    try:
        yield d
    finally:
        d.close()


@pytest.fixture
def clean(dp: NetdevDpif) -> NetdevDpif:
    dp.flow_flush()
    return dp


# -- the mapping ---------------------------------------------------------------------


def test_put_get_dump_del_round_trip(clean: NetdevDpif) -> None:
    key, mask = key_of(K)
    assert clean.flow_put(key, mask, output(2), ufid=U) == FlowStats()
    got = clean.flow_get(ufid=U)
    assert got.ufid == U and got.ufid_present and got.actions == output(2)
    (dumped,) = list(clean.flow_dump())
    assert dumped.ufid == U and dumped.actions == output(2)
    # The daemon regenerates the key from its struct flow: every attribute we sent is there.
    ours = {t for t, _ in _attrs(canonical_key(key))}
    assert ours <= {t for t, _ in _attrs(dumped.key or b"")}
    assert clean.flow_del(ufid=U) == FlowStats()
    assert list(clean.flow_dump()) == []


def _attrs(data: bytes) -> list[tuple[int, bytes]]:
    from reference._netlink import iter_attrs

    return [(t, p) for t, p, _ in iter_attrs(data, where="test")]


def test_dump_agrees_with_the_ovs_packages_parser(clean: NetdevDpif) -> None:
    """Our reading of dump-flows -m equals ovs.flow.odp.ODPFlow's reading of the same text."""
    odp = require_module("ovs.flow.odp", "OVS's Python flow parser: pip install 'ovs[flow]'")
    key, mask = key_of(K)
    clean.flow_put(key, mask, output(2), ufid=U)
    key2, mask2 = key_of(K.replace("dst=2)", "dst=3)"))
    clean.flow_put(key2, mask2, b"", ufid=V)
    text = clean._call("dpctl/dump-flows", "-m", "--no-names")
    lines = [ln for ln in text.splitlines() if ln.startswith("ufid:")]
    assert len(lines) == 2
    for line in lines:
        theirs = odp.ODPFlow(line)
        ours = parse_flow_line(line, now_ms=10_000)
        sections = {sec.name: sec.string for sec in theirs.sections}
        assert str(ours.ufid) == sections["ufid"].rstrip(", ")
        assert ours.key_text == sections["match"].rstrip(", ")
        assert ours.stats.n_packets == theirs.info["packets"]
        assert ours.stats.n_bytes == theirs.info["bytes"]
        assert ours.actions_text == sections["actions"].rstrip(", ")
    by_ufid = {f.ufid: f for f in clean.flow_dump()}
    assert by_ufid[U].actions == output(2) and by_ufid[V].actions == b""
    # The backend's cached attribute-by-attribute parse gives parse_flow's bytes.
    for line in lines:
        text = parse_flow_line(line, now_ms=0).key_text
        whole = parse_flow(text)
        assert clean._parse_key(text) == (whole.key, whole.mask)


def test_port_names_of_verbose_replies_become_numbers(clean: NetdevDpif) -> None:
    # get-flow -m prints ports by name (lib/odp-util.c odp_portno_name_format); the port table says which.
    names = clean._ports()
    line = parse_flow_line(
        "ufid:11111111-2222-3333-4444-555555555555, recirc_id(0),in_port(p1),eth_type(0x1234), "
        "packets:0, bytes:0, used:never, dp:ovs, actions:clone(p2),ct(commit,zone=1),p1,drop",
        now_ms=0,
    )
    got = clean._unname(line)
    assert got.key_text == f"recirc_id(0),in_port({names['p1']}),eth_type(0x1234)"
    assert got.actions_text == f"clone({names['p2']}),ct(commit,zone=1),{names['p1']},drop"


def test_modify_returns_stats_and_replaces_actions(clean: NetdevDpif) -> None:
    key, mask = key_of(K)
    clean.flow_put(key, mask, output(2), ufid=U)
    assert clean.flow_put(key, mask, output(1), ufid=U, flags=PutFlags.MODIFY) == FlowStats()
    assert clean.flow_get(ufid=U).actions == output(1)
    # CREATE|MODIFY on an absent flow creates it (dpctl: mod-flow, then add-flow on ENOENT)
    key2, mask2 = key_of(K.replace("dst=2)", "dst=4)"))
    clean.flow_put(key2, mask2, output(2), ufid=V, flags=PutFlags.CREATE | PutFlags.MODIFY)
    assert clean.flow_get(ufid=V).actions == output(2)


def test_get_and_del_by_key_use_the_daemons_generated_ufid(clean: NetdevDpif) -> None:
    key, mask = key_of(K)
    clean.flow_put(key, mask, output(2))  # no UFID: the daemon generates one
    (dumped,) = list(clean.flow_dump())
    assert dumped.ufid is not None
    got = clean.flow_get(key=key)
    assert got.ufid == dumped.ufid  # found by the same hash the daemon used
    clean.flow_del(key=key)
    assert list(clean.flow_dump()) == []


def test_probe_finds_ufid_support(clean: NetdevDpif) -> None:
    assert probe_ufid(clean) is True
    assert clean.features.semantics == "netdev"
    assert clean.features.ufid and not clean.features.omit_flags


# -- errors ----------------------------------------------------------------------------

# (name, operation on a table holding flow U with key K) -> the errno ReferenceDatapath(semantics="netdev") gives
_ERROR_CASES = [
    ("duplicate", lambda d, k, m: d.flow_put(k, m, output(2), ufid=U)),
    ("same key other ufid", lambda d, k, m: d.flow_put(k, m, output(2), ufid=V)),
    ("get absent", lambda d, k, m: d.flow_get(ufid=V)),
    ("del absent", lambda d, k, m: d.flow_del(ufid=V)),
    ("del by key of a ufid flow", lambda d, k, m: d.flow_del(key=k)),
    ("modify|zero_stats", lambda d, k, m: d.flow_put(k, m, b"", ufid=U, flags=PutFlags.MODIFY | PutFlags.ZERO_STATS)),
]


@pytest.mark.parametrize(("name", "op"), _ERROR_CASES, ids=[c[0] for c in _ERROR_CASES])
def test_errors_match_the_netdev_model(clean: NetdevDpif, name: str, op: object) -> None:
    key, mask = key_of(K)
    model = ReferenceDatapath(semantics="netdev")
    outcomes: list[int | None] = []
    for d in (clean, model):
        d.flow_put(key, mask, output(2), ufid=U)
        try:
            op(d, key, mask)  # type: ignore[operator]
            outcomes.append(0)
        except DpifError as exc:
            outcomes.append(exc.errno)
    assert outcomes[0] == outcomes[1], f"{name}: daemon {outcomes[0]}, model {outcomes[1]}"
    assert outcomes[0] != 0


def test_error_classes(clean: NetdevDpif) -> None:
    key, mask = key_of(K)
    clean.flow_put(key, mask, output(2), ufid=U)
    with pytest.raises(DpifExists):
        clean.flow_put(key, mask, output(2), ufid=U)
    with pytest.raises(DpifNotFound):
        clean.flow_get(ufid=V)
    # An incomplete key (IPv6 ethertype, no ipv6()): dpif-netdev needs complete keys (dpif_netdev_flow_from_nlattrs).
    bad, bad_mask = key_of("in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x86dd)")
    with pytest.raises(DpifInvalid):
        clean.flow_put(bad, bad_mask, output(2), ufid=V)
    assert [f.ufid for f in clean.flow_dump()] == [U]  # failed calls left the table alone


def test_error_text_in_a_successful_reply_is_an_error(clean: NetdevDpif) -> None:
    # lib/dpctl.c dpctl_get_flow: a bad UFID is printed but error stays 0, so the reply is a success.
    raw = clean._client.call("dpctl/get-flow", "ufid:nothex") if clean._client else ""
    assert "Invalid argument" in raw
    with pytest.raises(DpifInvalid, match="successful reply"):
        clean._call("dpctl/get-flow", "ufid:nothex")


def test_what_dpctl_cannot_express_is_declared(clean: NetdevDpif) -> None:
    with pytest.raises(DpifNotSupported):
        clean.flow_get(ufid=b"\x01\x02\x03")  # dpctl takes only 16-byte UFIDs
    with pytest.raises(DpifNotSupported):
        clean.recv_upcalls()
    with pytest.raises(DpifNotSupported):
        clean.execute(b"\x00" * 60, output(2), in_port=1)
    with pytest.raises(DpifNotSupported):
        clean.inject(1, b"\x00" * 60)  # plain dummy ports are never polled
    assert clean.features.packet_io is False


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        netdev(colour="blue")
    with pytest.raises(UsageError):
        netdev(timeout="soon")
    with pytest.raises(UsageError):
        NetdevDpif(target="tcp:1.2.3.4:5")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair=cs.keys_with_masks())
def test_cached_attribute_parse_equals_parse_flow(dp: NetdevDpif, pair: tuple[bytes, bytes]) -> None:
    """_parse_key (split at top-level commas, one cache entry per attribute text) == parse_flow, nested keys too."""
    text = format_key(pair[0], pair[1], verbose=True)
    whole = parse_flow(text)
    for _ in range(2):  # cold, then from the cache
        assert dp._parse_key(text) == (whole.key, whole.mask or b"")


# -- stats text -----------------------------------------------------------------------

_FLAG_CHARS = [(0x002, "S"), (0x001, "F"), (0x008, "P"), (0x004, "R"), (0x020, "U"), (0x010, ".")]
_FLAG_CHARS += [(0x040, "E"), (0x080, "C"), (0x100, "N"), (0x200, "[200]"), (0x400, "[400]"), (0x800, "[800]")]


@settings(max_examples=100)
@given(
    packets=st.integers(0, 2**64 - 1),
    n_bytes=st.integers(0, 2**64 - 1),
    age_ms=st.one_of(st.none(), st.integers(0, 10**6)),
    flags=st.integers(0, 0xFFF),
)
def test_stats_text_round_trip(packets: int, n_bytes: int, age_ms: int | None, flags: int) -> None:
    # Written from lib/dpif.c dpif_flow_stats_format and lib/packets.c packet_format_tcp_flags.
    text = f"packets:{packets}, bytes:{n_bytes}, used:" + ("never" if age_ms is None else f"{age_ms / 1000:.3f}s")
    if flags:
        text += ", flags:" + "".join(ch for bit, ch in _FLAG_CHARS if flags & bit)
    now = 2_000_000
    got = parse_stats(text.split(", "), now_ms=now)
    assert (got.n_packets, got.n_bytes, got.tcp_flags) == (packets, n_bytes, flags)
    assert got.used_ms == (0 if age_ms is None else max(1, now - age_ms))


# -- udpif over the real daemon --------------------------------------------------------


def _frame(dst: int) -> bytes:
    eth = bytes([2, 0, 0, 0, 0, dst]) + bytes([2, 0, 0, 1, 0, 9]) + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([10, 0, 0, 9]), bytes([10, 0, 0, dst]))
    return eth + ip + struct.pack("!HHHH", 1000, 2000, 8, 0)


def test_udpif_revalidators_run_unchanged_over_netdev(clean: NetdevDpif) -> None:
    """Flows the udpif never saw are adopted, retranslated on the daemon, then purged.

    The handlers cannot run here: a standalone datapath has no upcalls
    (recv_upcalls raises DpifNotSupported, and the handlers let it through).
    """
    from reference.udpif import FieldMatch, RuleTable
    from reference.udpif.udpif import Udpif

    in_port = 1
    rules = RuleTable()
    dst1 = bytes(6) + bytes([2, 0, 0, 0, 0, 1])
    rules.add(10, [FieldMatch(KeyAttr.ETHERNET, dst1, bytes(6) + b"\xff" * 6)], output(2))
    ufids = [Ufid.from_int(0x100 + i) for i in range(3)]
    for i, ufid in enumerate(ufids):
        clean.flow_put(extract_key(_frame(1 + i), in_port), None, b"", ufid=ufid)
    udpif = Udpif(clean, rules)
    assert udpif.ufid_supported and udpif.use_ufid()  # probed on the daemon
    report = udpif.revalidate()
    assert (report.n_dumped, report.kept, report.modified, report.deleted) == (3, 2, 1, 0)
    assert udpif.coverage["ukey_adopted"] == 3
    live = {f.ufid: f.actions for f in clean.flow_dump()}
    # Host 1 matches the rule: the translated actions were written to the daemon; the others miss (drop).
    assert live == {ufids[0]: output(2), ufids[1]: b"", ufids[2]: b""}
    with pytest.raises(DpifNotSupported):
        udpif.handle_upcalls()
    udpif.purge()
    assert list(clean.flow_dump()) == []
    assert len(udpif.ukeys) == 0


# -- attach mode ------------------------------------------------------------------------


def test_attach_creates_and_deletes_only_its_own_datapath() -> None:
    require(ovs_available() is None, f"private ovs-vswitchd unavailable: {ovs_available()}")
    with PrivateOvs(ports=1) as ovs:
        theirs, mask = key_of(K)
        ovs.appctl("dpctl/add-flow", ovs.dp, f"{V},{K}", "1")
        with NetdevDpif(target=f"unix:{ovs.ctl_path}", ports=1) as d:
            assert isinstance(d, NetdevDpif) and d.dp != ovs.dp
            assert sorted(ovs.appctl("dpctl/dump-dps").split()) == sorted([d.dp, ovs.dp])
            d.flow_put(theirs, mask, output(1), ufid=U)
            assert d.flow_put(theirs, mask, output(2), ufid=U, flags=PutFlags.MODIFY) == FlowStats()
            assert d.flow_del(ufid=U) == FlowStats()
            d.flow_flush()
        assert ovs.appctl("dpctl/dump-dps").split() == [ovs.dp]
        assert "aaaaaaaa-2222" in ovs.appctl("dpctl/dump-flows", "-m", ovs.dp)  # untouched


def test_attach_to_nothing_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable):
        NetdevDpif(target=f"unix:{tmp_path / 'no.ctl'}")


# -- death and teardown ----------------------------------------------------------------


def test_close_leaves_nothing_behind() -> None:
    require(ovs_available() is None, f"private ovs-vswitchd unavailable: {ovs_available()}")
    d = _dpctl_netdev()
    assert d._ovs is not None and d._ovs.rundir is not None
    pids, netns, rundir = list(d._ovs.pids.values()), d._ovs.netns, d._ovs.rundir
    assert len(pids) == 2 and netns in netns_names()
    d.close()
    d.close()  # idempotent
    _assert_no_leftovers(pids, netns, rundir)


def test_kill_9_of_the_daemon_ends_quickly_with_a_clear_error() -> None:
    require(ovs_available() is None, f"private ovs-vswitchd unavailable: {ovs_available()}")
    d = _dpctl_netdev(timeout="5")
    assert d._ovs is not None and d._ovs.rundir is not None
    pids, netns, rundir = list(d._ovs.pids.values()), d._ovs.netns, d._ovs.rundir
    key, mask = key_of(K)
    d.flow_put(key, mask, output(2), ufid=U)
    os.kill(d._ovs.pids["ovs-vswitchd"], signal.SIGKILL)
    with pytest.raises(BackendUnavailable, match="ovs-vswitchd"):
        for _ in range(50):  # the first call may still see the socket file
            d.flow_get(ufid=U)
            time.sleep(0.01)
    with pytest.raises(BackendUnavailable):
        d.flow_dump()  # every later call fails at once
    d.close()
    _assert_no_leftovers(pids, netns, rundir)


def test_certify_cli_end_to_end_leaves_nothing_behind(tmp_path: Path) -> None:
    """`ufidcert certify --backend netdev` runs to a verdict (0 pass / 1 fail, never 2) and cleans up."""
    require(ovs_available() is None, f"private ovs-vswitchd unavailable: {ovs_available()}")
    import json
    import sys

    report = tmp_path / "report"
    argv = [sys.executable, "-m", "conformance", "certify", "--backend", "netdev", "--profile", "smoke"]
    proc = subprocess.Popen(
        [*argv, "--report", str(report), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode in (0, 1), out
    data = json.loads((report / "report.json").read_text())
    assert data["backend"]["name"] == "netdev" and "Open vSwitch" in data["backend"]["version"]
    assert data["features"]["semantics"] == "netdev" and data["features"]["probe_ufid"] is True
    assert data["verdict"] == ("pass" if proc.returncode == 0 else "fail")
    # Names of everything the run made carry its pid: ufidcert-<pid>-<hex>.
    mine = f"ufidcert-{proc.pid}-"
    assert not [n for n in netns_names() if n.startswith(mine)], "network namespace left behind"
    assert not list(Path("/tmp").glob(f"ufidcert-ovs-{proc.pid}-*")), "run directory left behind"
    daemons = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    assert f"ufidcert-ovs-{proc.pid}-" not in daemons, "a daemon of the run is still running"


def test_missing_binaries_are_reported_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.backends import _ovs_install
    from conformance.registry import list_backends, open_backend

    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(_ovs_install, "Path", lambda *parts: Path("/nonexistent", *(str(q).lstrip("/") for q in parts)))
    (info,) = [b for b in list_backends() if b.name == "netdev"]
    assert not info.available
    assert "apt-get install openvswitch-switch" in info.reason
    with pytest.raises(BackendUnavailable, match="openvswitch-switch"):
        open_backend("netdev")


def test_a_hung_daemon_times_out_instead_of_hanging() -> None:
    require(ovs_available() is None, f"private ovs-vswitchd unavailable: {ovs_available()}")
    d = _dpctl_netdev(timeout="1")
    assert d._ovs is not None
    pid = d._ovs.pids["ovs-vswitchd"]
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(BackendUnavailable, match="no reply"):
            d.flow_dump()
        with pytest.raises(BackendUnavailable):
            d.flow_flush()  # once timed out, the backend stays unusable: no second wait
    finally:
        os.kill(pid, signal.SIGCONT)
        d.close()
