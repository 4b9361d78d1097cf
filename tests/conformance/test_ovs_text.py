"""conformance.ovs_text: the form ovs-vswitchd stores a put flow in, for the live text differential."""

from __future__ import annotations

import pytest

from conformance.ovs_text import stored_form
from reference.odp import format_key, parse_flow

_L3 = {
    "0x0800": "eth_type(0x0800),ipv4(src=1.1.1.1,dst=2.2.2.2,proto=17,tos=0,ttl=64,frag=no)",
    "0x86dd": "eth_type(0x86dd),ipv6(src=::1,dst=::2,label=0,proto=17,tclass=0,hlimit=64,frag=no)",
    "0x0600": "eth_type(0x0600)",
}
_TUPLES = {
    "ct_tuple4": ("0x0800", "ct_tuple4(src=1.2.3.4,dst=5.6.7.8,proto={p},tp_src=1,tp_dst=2)"),
    "ct_tuple6": ("0x86dd", "ct_tuple6(src=::3,dst=::4,proto={p},tp_src=1,tp_dst=2)"),
}


@pytest.mark.parametrize("eth_type", sorted(_L3))
@pytest.mark.parametrize("tuple_name", sorted(_TUPLES))
@pytest.mark.parametrize("proto", [0, 6])
def test_a_ct_tuple_is_stored_only_with_a_protocol_and_its_own_family(
    eth_type: str, tuple_name: str, proto: int
) -> None:
    # lib/odp-util.c odp_flow_key_from_flow__: "if (flow->ct_nw_proto)", then ct_tuple4 only when
    # dl_type is IPv4 and ct_tuple6 only when it is IPv6; the daemon prints back what it wrote.
    family, text = _TUPLES[tuple_name]
    flow = parse_flow(
        f"{text.format(p=proto)},in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),{_L3[eth_type]}"
    )
    assert flow.mask is not None
    key, mask = stored_form(flow.key, flow.mask)
    assert (tuple_name in format_key(key, mask)) == (proto != 0 and eth_type == family)
