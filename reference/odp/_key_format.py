"""Flow keys as dpctl text: key (and mask) bytes -> ``odp_flow_format`` text (lib/odp-util.c); no I/O.

One loop prints any attribute from its :data:`~reference.odp.keys.KEY_ATTRS`
fields; the text exceptions (styles, one-value and flag-word attributes) come
from :mod:`reference.odp._key_text`, and the few attributes whose text is not
a list of fields (encap, tunnel, VLAN, MPLS, NSH, ct_label) have their own
printers below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from reference._netlink import pack_attr
from reference.errors import OdpDecodeError
from reference.odp._key_text import (
    FLAG_ATTRS,
    IPV6_LABEL_MASK,
    MPLS_EMPTY,
    SINGLE_ATTRS,
    Out,
    SingleAttr,
    field_style,
    field_value,
    find,
    fmt_field,
    format_flags,
    format_flags_masked,
    is_single,
    split,
)
from reference.odp._text import be, cx, format_nsh_masked, hexdump, put_hex
from reference.odp._tunnel_text import format_tunnel
from reference.odp.keys import KEY_ATTRS, AttrSpec, Length, decode_key, key_attr_name
from reference.uapi import KeyAttr, NshKeyAttr

__all__ = ["format_key", "format_key_attr"]

_TCP_FLAGS_MASK = FLAG_ATTRS[KeyAttr.TCP_FLAGS].bits


def _mask_is_constant(attr_type: int, mask: bytes, ones: bool) -> bool:
    """odp-util.c odp_mask_is_constant__ (exact when ``ones``, wildcard otherwise)."""
    byte = 0xFF if ones else 0
    if attr_type == KeyAttr.TCP_FLAGS:
        return (be(mask) & _TCP_FLAGS_MASK) == (_TCP_FLAGS_MASK if ones else 0)
    if attr_type == KeyAttr.IPV6:
        label = be(mask[32:36]) & IPV6_LABEL_MASK
        return (
            label == (IPV6_LABEL_MASK if ones else 0)
            and all(x == byte for x in mask[36:40])
            and all(x == byte for x in mask[0:32])
        )
    if attr_type == KeyAttr.ARP:
        return all(x == byte for x in mask[:22])
    if attr_type == KeyAttr.CT_ORIG_TUPLE_IPV4:
        return all(x == byte for x in mask[:13])
    if attr_type == KeyAttr.CT_ORIG_TUPLE_IPV6:
        return all(x == byte for x in mask[:37])
    if attr_type in (KeyAttr.UNSPEC, KeyAttr.ENCAP, KeyAttr.TUNNEL_INFO) or attr_type not in KEY_ATTRS:
        return False
    return all(x == byte for x in mask)


def _wildcard_mask(attr_type: int, payload: bytes) -> bytes:
    """odp-util.c generate_all_wildcard_mask: zeros, or an *empty* nested attribute.

    For nested types OVS iterates from the attribute header with the payload
    length, which never yields a valid attribute, so the result is empty.
    """
    spec = KEY_ATTRS.get(attr_type)
    if spec is not None and spec.length == Length.NESTED:
        return b""
    return bytes(len(payload))


# ---------------------------------------------------------------------------
# The generic printers: a list of fields, one value, a flag word
# ---------------------------------------------------------------------------


def _fmt_fields(o: Out, spec: AttrSpec, a: bytes, m: bytes | None, verbose: bool) -> None:
    """``field=value[/mask],...`` over the attribute's KEY_ATTRS fields, in table order."""
    for f in spec.fields:
        end = f.offset + f.size
        k, mk = a[f.offset : end], (m[f.offset : end] if m else None)
        fmt_field(o, f.name, f.kind, field_style(spec.type, f.name), k, mk, verbose)
    o.chomp(",")


def _fmt_single(o: Out, spec: AttrSpec, a: bytes, m: bytes | None, verbose: bool, is_exact: bool) -> None:  # noqa: PLR0917
    """``value[/mask]`` of a one-field attribute (format_odp_key_attr__ for skb_priority, in_port, ...)."""
    rule = SINGLE_ATTRS.get(spec.type, SingleAttr())
    kind = spec.fields[0].kind
    if rule.omit_wildcard and not verbose and not (m is not None and any(m)):
        return
    o.put(rule.key(field_value(kind, a)))
    if not is_exact:
        assert m is not None
        o.put("/" + rule.mask(field_value(kind, m)))


def _fmt_flag_word(o: Out, spec: AttrSpec, a: bytes, m: bytes | None, verbose: bool, is_exact: bool) -> None:  # noqa: PLR0917
    """ct_state / tcp_flags: names (format_flags), ``+name-name`` when masked, %#x for verbose ct_state."""
    rule = FLAG_ATTRS[spec.type]
    kind = spec.fields[0].kind
    value = field_value(kind, a)
    mask = field_value(kind, m) & rule.bits if m is not None else 0
    if rule.verbose_hex and verbose:
        o.put(cx(value))
        if not is_exact:
            o.put("/" + cx(mask))
    elif not is_exact:
        o.put(format_flags_masked(rule.names, value, mask, rule.bits))
    else:
        o.put(format_flags(rule.names, value, "|"))


# ---------------------------------------------------------------------------
# The attributes whose text is not a list of their fields
# ---------------------------------------------------------------------------


def _fmt_encap(o: Out, a: bytes, m: bytes | None, verbose: bool) -> None:
    if m and a:
        o.put(_format_attrs(a, m, verbose, "encap"))
    elif a:
        o.put(_format_attrs(a, None, verbose, "encap"))


def _fmt_ct_label(o: Out, a: bytes, m: bytes | None, verbose: bool) -> None:
    # ovs_u128 in host order (x86: little endian), printed big-endian.
    if verbose or (m is not None and any(m)):
        o.put(put_hex(a[::-1]))
        if m is not None and not all(x == 0xFF for x in m):
            o.put("/" + put_hex(m[::-1]))


def _fmt_vlan(o: Out, a: bytes, m: bytes | None, verbose: bool) -> None:
    # odp-util.c format_vlan_tci: vid and pcp when set or masked, "cfi=0" when clear.
    tci, mask = be(a), be(m) if m is not None else 0xFFFF
    vid, vid_m = tci & 0xFFF, mask & 0xFFF
    pcp, pcp_m = (tci >> 13) & 7, (mask >> 13) & 7
    if verbose or vid or vid_m:
        o.put(f"vid={vid}")
        if vid_m != 0xFFF:
            o.put(f"/0x{vid_m:x}")
        o.put(",")
    if verbose or pcp or pcp_m:
        o.put(f"pcp={pcp}")
        if pcp_m != 7:
            o.put(f"/0x{pcp_m:x}")
        o.put(",")
    if not tci & 0x1000:
        o.put("cfi=0,")
    o.chomp(",")


def _fmt_mpls(o: Out, key: bytes, mask: bytes | None) -> None:
    # odp-util.c format_mpls: label stack entries, masks (when not exact) in hex.
    for i in range(0, len(key), 4):
        k = be(key[i : i + 4])
        label, tc, ttl, bos = k >> 12, (k >> 9) & 7, k & 0xFF, (k >> 8) & 1
        if mask is None:
            o.put(f"label={label},tc={tc},ttl={ttl},bos={bos}")
        else:
            m = be(mask[i : i + 4])
            o.put(
                f"label={label}/0x{m >> 12:x},tc={tc}/{(m >> 9) & 7:x},"
                f"ttl={ttl}/0x{m & 0xFF:x},bos={bos}/{(m >> 8) & 1:x}"
            )
        o.put(",")
    o.chomp(",")


# Where the NSH key attributes land in struct ovs_key_nsh.
_NSH_SPANS: Mapping[int, slice] = {NshKeyAttr.BASE: slice(0, 8), NshKeyAttr.MD1: slice(8, 24)}


def _fmt_nsh(o: Out, payload: bytes, mask_payload: bytes | None, verbose: bool) -> None:
    # odp-util.c format_odp_nsh_attr over struct ovs_key_nsh (flags, ttl,
    # mdtype, np, be32 path_hdr, be32 context[4]); missing mask parts stay all-ones.
    key = bytearray(24)
    mask = bytearray(b"\xff" * 24)
    mask_attrs = split(mask_payload, "mask/nsh") if mask_payload is not None else None
    for t, a in split(payload, "key/nsh"):
        ma = find(mask_attrs, t)
        span = _NSH_SPANS.get(t)
        if span is not None:
            key[span] = a
            if ma is not None:
                mask[span] = ma
    if mask_attrs is not None:
        o.put(format_nsh_masked(bytes(key), bytes(mask)))
        return
    path = be(key[4:8])
    o.put(f"flags={key[0]},ttl={key[1]},mdtype={key[2]},np={key[3]}")
    o.put(f",spi=0x{path >> 8:x},si={path & 0xFF}")
    if key[2] == 1:
        for i in range(4):
            o.put(f",c{i + 1}=0x{be(key[8 + 4 * i : 12 + 4 * i]):x}")


_SPECIAL: Mapping[int, Callable[[Out, bytes, bytes | None, bool], None]] = {
    KeyAttr.ENCAP: _fmt_encap,
    KeyAttr.TUNNEL: format_tunnel,
    KeyAttr.VLAN: _fmt_vlan,
    KeyAttr.NSH: _fmt_nsh,
    KeyAttr.CT_LABELS: _fmt_ct_label,
}


def _fmt_attr_body(o: Out, t: int, a: bytes, m: bytes | None, verbose: bool) -> None:
    """odp-util.c format_odp_key_attr__ (name, parentheses and body)."""
    is_exact = _mask_is_constant(t, m, True) if m is not None else True
    o.put(key_attr_name(t) + "(")
    spec = KEY_ATTRS.get(t)
    special = _SPECIAL.get(t)
    if special is not None:
        special(o, a, m, verbose)
    elif t == KeyAttr.MPLS:
        if not a:
            # An empty label stack (Linux upcall keys for a cut stack):
            # format_odp_key_attr__ prints this and returns before its
            # closing ')', so the text really is "mpls((bad key length 0)".
            o.put(MPLS_EMPTY)
            return
        _fmt_mpls(o, a, None if is_exact else m)
    elif spec is not None and t in FLAG_ATTRS:
        _fmt_flag_word(o, spec, a, m, verbose, is_exact)
    elif spec is not None and is_single(spec):
        _fmt_single(o, spec, a, m, verbose, is_exact)
    elif spec is not None and spec.fields:
        _fmt_fields(o, spec, a, m, verbose)
    else:
        o.put(hexdump(a))
        if not is_exact:
            assert m is not None
            o.put("/" + hexdump(m))
    o.put(")")


def _format_attrs(key: bytes, mask: bytes | None, verbose: bool, where: str) -> str:
    """odp-util.c odp_flow_format over already validated bytes."""
    o = Out()
    if not key:
        return "<empty>"
    mask_attrs = split(mask, f"mask/{where}") if mask is not None else None
    has_ethtype = False
    has_packet_type = False
    first = True
    for t, a in split(key, where):
        ma = find(mask_attrs, t) if mask_attrs else None
        if t == KeyAttr.ETHERTYPE:
            has_ethtype = True
        elif t == KeyAttr.PACKET_TYPE:
            has_packet_type = True
        spec = KEY_ATTRS.get(t)
        is_nested = spec is not None and spec.length == Length.NESTED
        is_wildcard = False
        if mask_attrs:
            is_wildcard = _mask_is_constant(t, ma, False) if ma is not None else True
        if verbose or not is_wildcard or is_nested:
            if is_wildcard and ma is None:
                ma = _wildcard_mask(t, a)
            if not first:
                o.put(",")
            _fmt_attr_body(o, t, a, ma, verbose)
            first = False
        elif t == KeyAttr.ETHERNET and not has_packet_type:
            # OVS does not clear first_field here, so "eth()" leading the
            # output is followed by the next attribute without a comma.
            if not first:
                o.put(",")
            o.put("eth()")
        elif t == KeyAttr.PACKET_TYPE and is_wildcard:
            has_packet_type = False
    if not has_ethtype and mask is not None:
        m = find(mask_attrs, KeyAttr.ETHERTYPE)
        if m is not None:
            o.put(f",eth_type(0/0x{be(m):04x})")
    return o.text()


def format_key(key: bytes, mask: bytes | None = None, *, verbose: bool = False) -> str:
    """Print ``key`` (with ``mask``) exactly as ``ovs-appctl dpctl/dump-flows`` does.

    ``verbose=True`` is the ``-m`` form. Without a mask every field prints as
    exact. Raises :class:`OdpDecodeError` for malformed key or mask bytes.
    """
    decode_key(key, where="key")
    if mask is not None:
        decode_key(mask, where="mask", is_mask=True)
        _check_mask_sizes(key, mask, "key")
    return _format_attrs(bytes(key), bytes(mask) if mask is not None else None, verbose, "key")


def _check_mask_sizes(key: bytes, mask: bytes, where: str) -> None:
    # odp-util.c check_attr_len: a fixed-size key attribute needs a mask of the
    # same size; OVS prints "(bad mask length ...)", we refuse.
    mask_attrs = split(mask, f"mask/{where}")
    for t, a in split(key, where):
        spec = KEY_ATTRS.get(t)
        ma = find(mask_attrs, t)
        if spec is None or ma is None:
            continue
        if spec.length >= 0 and len(ma) != spec.length:
            raise OdpDecodeError(
                f"mask is {len(ma)} bytes, expected {spec.length}", where=f"mask/{spec.name}", offset=None
            )
        if t == KeyAttr.MPLS and len(ma) != len(a):
            raise OdpDecodeError(f"mask is {len(ma)} bytes but key is {len(a)}", where="mask/mpls")
        if t == KeyAttr.ENCAP and a and ma:
            _check_mask_sizes(a, ma, f"{where}/encap")


def format_key_attr(attr_type: int, payload: bytes, mask: bytes | None, *, verbose: bool) -> str:
    """One attribute as text, e.g. ``ipv4(src=10.0.0.1,...)`` (for ``set()``/``set_masked()`` actions)."""
    if not isinstance(attr_type, int) or not 0 <= attr_type <= 0x3FFF:
        raise OdpDecodeError(f"attribute type {attr_type!r} is not a netlink attribute type (0..16383)", where="key")
    for what, data in (("payload", payload), ("mask", mask)):
        if data is not None and (not isinstance(data, (bytes, bytearray, memoryview)) or len(data) > 0xFFFF - 4):
            raise OdpDecodeError(
                f"{what} must be bytes of at most 65531 bytes", where=f"key/{key_attr_name(attr_type)}"
            )
    key = pack_attr(attr_type, payload)
    decode_key(key, where="key")
    if mask is not None:
        mbytes = pack_attr(attr_type, mask)
        decode_key(mbytes, where="mask", is_mask=True)
        _check_mask_sizes(key, mbytes, "key")
    o = Out()
    _fmt_attr_body(o, attr_type, bytes(payload), bytes(mask) if mask is not None else None, verbose)
    return o.text()
