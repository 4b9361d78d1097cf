"""Differential check: ReferenceDatapath(semantics="netdev") against real ovs-vswitchd userspace datapaths.

The same dpctl sequence runs through ``ovs-appctl dpctl/...`` in a private
ovs-vswitchd and through the model; the outcome of every step (0 or the
errno) must be the same, except in the cases docs/dpif-contract.md lists
for that release, which are pinned here per release. Each test runs against
every version of ``OVS_VERSIONS`` (3.1.0 and 3.5.0). Flow text is parsed
into key/mask bytes with reference.odp.flowtext (the dpctl parser's
counterpart); the model never sees the daemon's answers.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.backends._ovsd import PrivateOvs
from conformance.backends.unixctl import UnixctlError
from reference._classifier import parse_key
from reference.datapath import ReferenceDatapath
from reference.dpif import DpifError, PutFlags
from reference.odp.flowtext import parse_flow
from reference.ufid import Ufid
from tests._ovs import OVS_VERSIONS, ovs_release, private_ovs

K = (
    "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),"
    "ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,tos=0,ttl=64,frag=no),tcp(src=1,dst=2)"
)
K2 = K.replace("tcp(src=1,dst=2)", "tcp(src=1,dst=3)")
K3 = K.replace("tcp(src=1,dst=2)", "tcp(src=1,dst=4)")
NET = K.replace("dst=10.0.0.2,", "dst=10.1.2.0/255.255.255.0,")
HOST = K.replace("dst=10.0.0.2,", "dst=10.1.2.7,")
U = "ufid:11111111-2222-3333-4444-555555555555"
V = "ufid:aaaaaaaa-2222-3333-4444-555555555555"
W = "ufid:cccccccc-2222-3333-4444-555555555555"
X = "ufid:dddddddd-2222-3333-4444-555555555555"
A = "ufid:eeeeeeee-2222-3333-4444-555555555555"

# (dpctl command, flow text) in order: the cases every release answers like the model.
STEPS = [
    ("add-flow", f"{U},{K}"),
    ("add-flow", f"{U},{K}"),  # EEXIST
    ("add-flow", K2),  # no UFID: dpctl sends one generated from the key
    ("get-flow", U),  # 6
    ("mod-flow", f"{U},{K}"),  # 7
    ("mod-flow", f"{W},{K3}"),  # 10: ENOENT
    ("get-flow", X),  # 14: ENOENT
    ("del-flow", K),  # 15: the flow has a UFID: ENOENT
    ("del-flow", U),  # 16
    ("del-flow", K2),  # 17: key hashed the same way
    ("add-flow", f"{A},{NET}"),  # a /24 megaflow
    ("del-flow", A),
    ("add-flow", f"{W},{HOST}"),
]


def _errno_of_text(text: str) -> int:
    # dpctl prints "<what> (<strerror>)"; some errors come back as normal replies.
    for code in (errno.EEXIST, errno.ENOENT, errno.EINVAL, errno.EOPNOTSUPP):
        if f"({os.strerror(code)})" in text:
            return code
    return 0


def run_ovs(ovs: PrivateOvs, cmd: str, text: str) -> int:
    args: list[str] = [f"dpctl/{cmd}", ovs.dp, text]
    if cmd in ("add-flow", "mod-flow"):
        args.append("drop")
    try:
        reply = ovs.appctl(*args)
    except UnixctlError as exc:
        assert exc.errno is not None, exc
        return exc.errno
    return _errno_of_text(reply)


def run_model(dp: ReferenceDatapath, cmd: str, text: str) -> int:
    flow = parse_flow(text) if not text.startswith("ufid:") or "," in text else None
    ufid = flow.ufid if flow is not None else Ufid.parse(text)
    if ufid is None and flow is not None and cmd in ("add-flow", "mod-flow"):
        # dpctl through ovs-appctl always sends a UFID: one hashed from the key (dpctl_put_flow_dpif)
        ufid = dp.generate_ufid(flow.key)
    try:
        if cmd in ("add-flow", "mod-flow"):
            assert flow is not None
            flags = PutFlags.CREATE if cmd == "add-flow" else PutFlags.MODIFY
            dp.flow_put(flow.key, flow.mask, b"", ufid=ufid, flags=flags)
        elif cmd == "get-flow":
            dp.flow_get(ufid=ufid)
        elif ufid is not None:
            dp.flow_del(ufid=ufid)
        else:
            assert flow is not None
            dp.flow_del(key=flow.key)
    except DpifError as exc:
        return exc.errno or -1
    return 0


@pytest.fixture(scope="module", params=OVS_VERSIONS)
def ovs(request: pytest.FixtureRequest) -> Iterator[PrivateOvs]:
    yield from private_ovs(ovs=request.param)


def _fixed(daemon: PrivateOvs) -> bool:
    """Whether the daemon has upstream 21410ff80 (flow_put_on_pmd looks a UFID put up by UFID): 3.1.3 and later."""
    return ovs_release(daemon) >= (3, 1, 3)


def test_netdev_model_answers_like_ovs_vswitchd(ovs: PrivateOvs) -> None:
    ovs.appctl("dpctl/del-flows", ovs.dp)
    dp = ReferenceDatapath(semantics="netdev")
    real = [run_ovs(ovs, cmd, text) for cmd, text in STEPS]
    model = [run_model(dp, cmd, text) for cmd, text in STEPS]
    names = [f"{cmd} {text[:48]}" for cmd, text in STEPS]
    assert list(zip(names, model, strict=True)) == list(zip(names, real, strict=True))
    # and the surviving flows agree
    dumped = ovs.appctl("dpctl/dump-flows", "-m", ovs.dp)
    real_ufids = sorted(line.split(",", 1)[0] for line in dumped.splitlines() if line.startswith("ufid:"))
    model_ufids = sorted(str(f.ufid) for f in dp.flow_dump(terse=True))
    assert model_ufids == real_ufids


def test_known_differences(ovs: PrivateOvs) -> None:
    """The cases where a release and the model part ways, pinned per release (docs/dpif-contract.md).

    Before upstream 21410ff80 (3.1.3) dpif-netdev finds the flow a put refers
    to by key, so (a) a MODIFY with an unknown UFID changes whichever
    megaflow covers the key, (b) a CREATE with a UFID in use installs a
    second flow with the same UFID, (c) a MODIFY of a known UFID whose key no
    flow covers is ENOENT, and (e) a CREATE with a new UFID inside another
    megaflow is EEXIST. From 3.1.3 on, a put with a UFID is looked up by UFID
    only, so (d) a CREATE with a new UFID and the match of a live flow
    installs a second flow with that match, where lib/dpif.h's dpif_flow_put
    contract (and the Linux datapath) answer EEXIST.
    """
    ovs.appctl("dpctl/del-flows", ovs.dp)
    dp = ReferenceDatapath(semantics="netdev")
    steps = [
        ("add-flow", f"{A},{NET}"),
        ("mod-flow", f"{W},{HOST}"),  # (a) unknown UFID, key covered by A
        ("add-flow", f"{X},{HOST}"),  # (e) new UFID, key inside A's megaflow
        ("del-flows", ""),
        ("add-flow", f"{U},{K}"),
        ("add-flow", f"{U},{K2}"),  # (b) UFID in use, key not covered
        ("add-flow", f"{V},{K}"),  # (d) new UFID, the match of U's flow
        ("del-flows", ""),
        ("add-flow", f"{V},{K2}"),
        ("mod-flow", f"{V},{K}"),  # (c) UFID in use, but its key is not covered by any flow
    ]
    real, model = [], []
    for cmd, text in steps:
        if cmd == "del-flows":
            ovs.appctl("dpctl/del-flows", ovs.dp)
            dp.flow_flush()
            continue
        real.append(run_ovs(ovs, cmd, text))
        model.append(run_model(dp, cmd, text))
    #        (a)            (e)             (b)            (d)
    assert model == [0, errno.ENOENT, 0, 0, errno.EEXIST, errno.EEXIST, 0, 0]
    if _fixed(ovs):
        assert real == [0, errno.ENOENT, 0, 0, errno.EEXIST, 0, 0, 0]
    else:
        assert real == [0, 0, errno.EEXIST, 0, 0, errno.EEXIST, 0, errno.ENOENT]
    ovs.appctl("dpctl/del-flows", ovs.dp)


_KEYS = [K, K2, K3, NET, HOST]
_UFIDS = [U, V, W]
_step = st.tuples(
    st.sampled_from(["add-flow", "mod-flow", "get-flow", "del-flow"]),
    st.one_of(st.none(), st.sampled_from(_UFIDS)),
    st.sampled_from(_KEYS),
)


def _known_difference(dp: ReferenceDatapath, cmd: str, ufid: str | None, text: str, fixed: bool) -> bool:
    """True for the put cases where the release and the model part ways (see the test above)."""
    if cmd not in ("add-flow", "mod-flow"):
        return False
    flow = parse_flow(text)
    effective = Ufid.parse(ufid) if ufid is not None else dp.generate_ufid(flow.key)
    try:
        dp.flow_get(ufid=effective)
        in_use = True
    except DpifError:
        in_use = False
    if fixed:
        # (d): a CREATE with a new UFID and the match of a live flow
        pk = parse_key(flow.key)
        same = [f for f in dp.flow_dump() if f.key is not None and parse_key(f.key).leaves == pk.leaves]
        return cmd == "add-flow" and not in_use and bool(same)
    covered = dp._table.lookup(parse_key(flow.key).leaves) is not None  # the classifier, as 3.1.0 looks up
    if cmd == "mod-flow":
        return in_use != covered  # (a) unknown UFID but covered, (c) known UFID but its key not covered
    return in_use != covered  # (b) UFID in use, key not covered; (e) new UFID, key covered


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=12))
def test_random_dpctl_sequences_agree(ovs: PrivateOvs, steps: list[tuple[str, str | None, str]]) -> None:
    ovs.appctl("dpctl/del-flows", ovs.dp)
    dp = ReferenceDatapath(semantics="netdev")
    for cmd, ufid, key_text in steps:
        if cmd in ("get-flow", "del-flow") and ufid is not None:
            text = ufid
        elif cmd == "get-flow":
            continue  # dpctl get-flow takes only a UFID
        else:
            text = f"{ufid},{key_text}" if ufid else key_text
        if _known_difference(dp, cmd, ufid, text, _fixed(ovs)):
            continue
        assert run_model(dp, cmd, text) == run_ovs(ovs, cmd, text), (cmd, text)
    # generated UFIDs differ (each side has its own secret): compare the given ones and the count
    dumped = ovs.appctl("dpctl/dump-flows", "-m", ovs.dp)
    real = [line.split(",", 1)[0] for line in dumped.splitlines() if line.startswith("ufid:")]
    ours = [str(f.ufid) for f in dp.flow_dump(terse=True)]
    assert len(ours) == len(real)
    assert sorted(u for u in ours if u in _UFIDS) == sorted(u for u in real if u in _UFIDS)


_ETH = "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02)"
_V6 = "ipv6(src=::1,dst=::2,label=0,proto={p},tclass=0,hlimit=64,frag=no)"
# lib/dpif-netdev.c dpif_netdev_flow_from_nlattrs: dpif-netdev takes only keys odp_flow_key_to_flow
# converts perfectly. The model answers from reference.odp.fitness; the daemon decides itself.
COMPLETENESS = [
    f"{_ETH},eth_type(0x86dd)",  # row 18: no ipv6()
    f"{_ETH},eth_type(0x0806)",  # row 18: no arp()
    f"{_ETH},eth_type(0x1234)",
    K,  # TCP without tcp_flags: complete for userspace (the kernel wants tcp_flags)
    f"{K},tcp_flags(0)",
    K.replace("proto=6", "proto=17"),  # tcp() under UDP: too much
    K.replace(",tcp(src=1,dst=2)", ""),  # TCP without tcp(): too little
    K.replace(",tcp(src=1,dst=2)", "").replace("frag=no", "frag=later"),  # later fragment: no L4 expected
    f"{_ETH},eth_type(0x86dd),{_V6.format(p=58)},icmpv6(type=135,code=0)",  # neighbour solicitation without nd()
    f"{_ETH},eth_type(0x86dd),{_V6.format(p=58)},icmpv6(type=128,code=0)",
    f"{_ETH},eth_type(0x8847),mpls(label=1,tc=0,ttl=64,bos=1)",
    f"{_ETH},eth_type(0x8847),mpls(label=1,tc=0,ttl=64,bos=0)",  # stack not terminated: too little
]


def test_netdev_completeness_rule_agrees_with_ovs_vswitchd(ovs: PrivateOvs) -> None:
    ovs.appctl("dpctl/del-flows", ovs.dp)
    real, model = [], []
    for i, text in enumerate(COMPLETENESS):
        flow_text = f"ufid:{i + 1:08x}-2222-3333-4444-555555555555,{text}"
        real.append(run_ovs(ovs, "add-flow", flow_text))
        ovs.appctl("dpctl/del-flows", ovs.dp)  # each key alone: no overlaps
        model.append(run_model(ReferenceDatapath(semantics="netdev"), "add-flow", flow_text))
    assert list(zip(COMPLETENESS, model, strict=True)) == list(zip(COMPLETENESS, real, strict=True))
    assert errno.EINVAL in real and 0 in real  # both outcomes exercised
    ovs.appctl("dpctl/del-flows", ovs.dp)
