"""``upcall/show`` parser: text recorded from ovs-vswitchd 3.1.0, text in OVS's own format, bad text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.backends.upcall_show import RevalidatorKeys, UdpifStatus, UpcallShowError, parse_upcall_show

# Recorded from Debian's ovs-vswitchd 3.1.0 (netdev bridge, 2,000 idle exact-match flows, one revalidator).
RECORDED_NETDEV = """netdev@ovs-netdev:
  flows         : (current 2000) (avg 1500) (max 2000) (limit 200000)
  dump duration : 1ms
  ufid enabled : true

  8: (keys 2000)
"""


def render(s: UdpifStatus) -> str:
    """One block, written from the ds_put_format() calls of upcall_unixctl_show() (ofproto-dpif-upcall.c)."""
    text = f"{s.dpif}:\n"
    text += f"  flows         : (current {s.current}) (avg {s.avg}) (max {s.max}) (limit {s.limit})\n"
    if s.offloaded is not None:
        text += f"  offloaded flows : {s.offloaded}\n"
    text += f"  dump duration : {s.dump_duration_ms}ms\n"
    text += f"  ufid enabled : {'true' if s.ufid_enabled else 'false'}\n"
    text += "\n"
    for r in s.revalidators:
        text += f"  {r.thread_id}: (keys {r.keys})\n"
    return text


def test_recorded_netdev_block() -> None:
    (s,) = parse_upcall_show(RECORDED_NETDEV)
    assert s == UdpifStatus(
        dpif="netdev@ovs-netdev",
        current=2000,
        avg=1500,
        max=2000,
        limit=200000,
        dump_duration_ms=1,
        ufid_enabled=True,
        revalidators=(RevalidatorKeys(8, 2000),),
    )


u32 = st.integers(0, 2**32 - 1)
statuses = st.builds(
    UdpifStatus,
    dpif=st.sampled_from(["system@ovs-system", "netdev@ovs-netdev", "dummy@br0"]),
    current=u32,
    avg=u32,
    max=u32,
    limit=u32,
    dump_duration_ms=st.integers(1, 10**7),
    ufid_enabled=st.booleans(),
    offloaded=st.none() | st.integers(0, 2**64 - 1),
    revalidators=st.lists(st.builds(RevalidatorKeys, u32, st.integers(0, 2**31 - 1)), max_size=4).map(tuple),
)


@given(st.lists(statuses, max_size=3))
def test_rendered_blocks_round_trip(blocks: list[UdpifStatus]) -> None:
    assert parse_upcall_show("".join(render(b) for b in blocks)) == tuple(blocks)


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("netdev@ovs-netdev:\n", 2, "text ends"),
        ("  flows         : (current 1) (avg 1) (max 1) (limit 1)\n", 1, "header"),
        (RECORDED_NETDEV.replace("dump duration : 1ms", "dump duration : 1s"), 3, "dump duration"),
        (RECORDED_NETDEV.replace("true", "yes"), 4, "ufid enabled"),
        (RECORDED_NETDEV.replace("(limit 200000)", ""), 2, "flows"),
        (RECORDED_NETDEV + "garbage\n", 7, "header"),
    ],
)
def test_bad_text_names_the_line(text: str, line: int, what: str) -> None:
    with pytest.raises(UpcallShowError) as info:
        parse_upcall_show(text)
    assert info.value.line == line
    assert what in str(info.value)
    assert isinstance(info.value, ValueError)
