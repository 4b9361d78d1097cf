"""``OVS_ACTION_ATTR_TUNNEL_PUSH`` (userspace datapath only): ``struct ovs_action_push_tnl`` <-> text.

The payload is ``u32 tnl_port, u32 out_port, u32 header_len, u32 tnl_type``
(host order) followed by ``header_len`` bytes of the encapsulation header
(Ethernet, IPv4 or IPv6, then UDP+VXLAN/Geneve/GTP-U or GRE/ERSPAN), as
``odp_put_tnl_push_action()`` in lib/odp-util.c lays it out. Printing follows
``format_odp_tnl_push_action()`` / ``format_odp_tnl_push_header()`` of OVS
3.1.0; parsing follows ``ovs_parse_tnl_push()``, with these differences:

* header fields OVS leaves uninitialised when parsing (IPv6 payload length,
  GTP-U length, ERSPAN bits other than version and session) are zero here;
* ``erspan(...)`` and ``udp(...),gtpu(...)`` headers parse here, although OVS
  3.1.0's scanner cannot read its own output for them (a malformed scan
  pattern for ERSPAN; GTP-U is only tried when no ``udp(`` precedes it).

Used by the action codec (:mod:`reference.odp.actions`); no I/O.
"""

from __future__ import annotations

import socket
import struct

from reference.odp._action_scan import NoMatch, Scanner
from reference.odp._text import cx, format_ipv6, mac, put_hex

__all__ = ["format_tnl_push", "parse_tnl_push"]

_HEAD = struct.Struct("=IIII")
# OVS_VPORT_TYPE_* (include/linux/openvswitch.h)
_GRE, _VXLAN, _GENEVE, _ERSPAN, _IP6ERSPAN, _IP6GRE, _GTPU = 3, 4, 5, 107, 108, 109, 110
_GRE_CSUM, _GRE_KEY, _GRE_SEQ = 0x8000, 0x2000, 0x1000
_ETH_TYPE_IP, _ETH_TYPE_TEB, _ERSPAN1, _ERSPAN2 = 0x0800, 0x6558, 0x88BE, 0x22EB


class _Short(Exception):
    """The payload ends before a field OVS would read."""


def _take(data: bytes, offset: int, size: int) -> bytes:
    if offset + size > len(data):
        raise _Short
    return data[offset : offset + size]


def format_tnl_push(payload: bytes) -> str | None:
    """The ``tnl_push(...)`` text, or None when the payload is too short for what OVS reads."""
    try:
        return _format(payload)
    except _Short:
        return None


def _format(payload: bytes) -> str:
    tnl_port, out_port, header_len, tnl_type = _HEAD.unpack(_take(payload, 0, 16))
    h = payload[16:]
    eth_dst, eth_src, eth_type = _take(h, 0, 6), _take(h, 6, 6), int.from_bytes(_take(h, 12, 2), "big")
    out = [
        f"tnl_push(tnl_port({tnl_port}),header(size={header_len},type={tnl_type},",
        f"eth(dst={mac(eth_dst)},src={mac(eth_src)},dl_type=0x{eth_type:04x}),",
    ]
    if eth_type == _ETH_TYPE_IP:
        ip = _take(h, 14, 20)
        frag = int.from_bytes(ip[6:8], "big")
        out.append(
            f"ipv4(src={socket.inet_ntoa(ip[12:16])},dst={socket.inet_ntoa(ip[16:20])},proto={ip[9]},"
            f"tos={cx(ip[1])},ttl={ip[8]},frag=0x{frag:x}),"
        )
        l4 = 34
    else:
        ip6 = _take(h, 14, 40)
        flow = int.from_bytes(ip6[0:4], "big")
        src = format_ipv6(ip6[8:24])
        dst = format_ipv6(ip6[24:40])
        out.append(
            f"ipv6(src={src},dst={dst},label={flow & 0xFFFFF},proto={ip6[6]},"
            f"tclass=0x{(flow >> 20) & 0xFF:x},hlimit={ip6[7]}),"
        )
        l4 = 54

    def udp() -> int:
        src, dst, _len, csum = struct.unpack("!HHHH", _take(h, l4, 8))
        out.append(f"udp(src={src},dst={dst},csum=0x{csum:x}),")
        return l4 + 8

    if tnl_type == _VXLAN:
        at = udp()
        flags, vni = struct.unpack("!II", _take(h, at, 8))
        out.append(f"vxlan(flags=0x{flags:x},vni=0x{vni >> 8:x})")
    elif tnl_type == _GENEVE:
        at = udp()
        b0, b1, _proto, vni = struct.unpack("!BBHI", _take(h, at, 8))
        text = "geneve(" + ("oam," if b1 & 0x80 else "") + ("crit," if b1 & 0x40 else "") + f"vni=0x{vni >> 8:x}"
        opt_len = (b0 & 0x3F) * 4
        if opt_len:
            text += ",options(" + _format_geneve_opts(_take(h, at + 8, opt_len)) + ")"
        out.append(text + ")")
    elif tnl_type in (_GRE, _IP6GRE):
        flags, proto = struct.unpack("!HH", _take(h, l4, 4))
        text = f"gre((flags=0x{flags:x},proto=0x{proto:x})"
        at = l4 + 4
        if flags & _GRE_CSUM:
            text += f",csum=0x{int.from_bytes(_take(h, at, 2), 'big'):x}"
            at += 4
        if flags & _GRE_KEY:
            text += f",key=0x{int.from_bytes(_take(h, at, 4), 'big'):x}"
            at += 4
        if flags & _GRE_SEQ:
            text += f",seq=0x{int.from_bytes(_take(h, at, 4), 'big'):x}"
        out.append(text + ")")
    elif tnl_type in (_ERSPAN, _IP6ERSPAN):
        ersh = _take(h, l4 + 8, 4)  # ERSPAN_HDR(): after the 8-byte GRE header with sequence number
        ver, sid = ersh[0] >> 4, ((ersh[2] & 3) << 8) + ersh[3]
        if ver == 1:
            idx = int.from_bytes(_take(h, l4 + 12, 4), "big")
            out.append(f"erspan(ver=1,sid=0x{sid:x},idx=0x{idx:x})")
        elif ver == 2:
            md2 = _take(h, l4 + 12, 8)
            hwid = ((md2[6] & 3) << 4) + (md2[7] >> 4)
            out.append(f"erspan(ver=2,sid=0x{sid:x},dir={(md2[7] >> 3) & 1},hwid=0x{hwid:x})")
        # Other versions: OVS logs a warning and prints nothing for the tunnel header.
    elif tnl_type == _GTPU:
        at = udp()
        flags, msgtype, _len, teid = struct.unpack("!BBHI", _take(h, at, 8))
        out.append(f"gtpu(flags=0x{flags:x},msgtype={msgtype},teid=0x{teid:x})")
    out.append(f"),out_port({out_port}))")
    return "".join(out)


def _format_geneve_opts(opts: bytes) -> str:
    # format_geneve_opts() without a mask: {class=%#x,type=%#x,len=%u[,0xdata]} per option.
    out: list[str] = []
    while opts:
        if len(opts) < 4:
            out.append(f"opt len {len(opts)} less than minimum 4")
            break
        cls, typ, length = int.from_bytes(opts[0:2], "big"), opts[2], (opts[3] & 0x1F) * 4
        if 4 + length > len(opts):
            out.append(f"opt len {4 + length} greater than remaining {len(opts)}")
            break
        text = f"{{class={cx(cls)},type={cx(typ)},len={length}"
        if length:
            text += "," + put_hex(opts[4 : 4 + length])
        out.append(text + "}")
        opts = opts[4 + length :]
    return "".join(out)


def _ipv4_csum(header: bytes) -> bytes:
    total = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total & 0xFFFF).to_bytes(2, "big")


def parse_tnl_push(scan: Scanner) -> bytes:
    """Parse ``tnl_push(...)`` at the scanner's position; returns the payload (without the attribute header)."""
    scan.need("tnl_push(tnl_port(")
    tnl_port = scan.integer(32, 0, "tnl_port")
    scan.need("),header(size=")
    # From here on the text is committed to tnl_push: mismatches are syntax errors.
    try:
        header_len, tnl_type = scan.numbers(("", 32, 0, "size"), (",type=", 32, 0, "type"))
        scan.need(",eth(dst=")
        eth = scan.mac()
        scan.need(",src=")
        eth = eth + scan.mac()
        (dl_type,) = scan.numbers((",dl_type=0x", 16, 16, "dl_type"))
        scan.need("),")
        header = bytearray(eth + dl_type.to_bytes(2, "big"))
        if dl_type == _ETH_TYPE_IP:
            scan.need("ipv4(src=")
            src = scan.ipv4()
            scan.need(",dst=")
            dst = scan.ipv4()
            proto, tos, ttl, frag = scan.numbers(
                (",proto=", 8, 0, "proto"), (",tos=", 8, 0, "tos"), (",ttl=", 8, 0, "ttl"), (",frag=0x", 16, 16, "frag")
            )
            scan.need("),")
            ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 0, 0, frag, ttl, proto, 0, src, dst))
            ip[10:12] = _ipv4_csum(bytes(ip))
            header += ip
            is_ipv6 = False
        else:
            scan.need("ipv6(src=")
            src6 = _ipv6(scan)
            scan.need(",dst=")
            dst6 = _ipv6(scan)
            label, proto, tclass, hlimit = scan.numbers(
                (",label=", 20, 0, "label"),
                (",proto=", 8, 0, "proto"),
                (",tclass=0x", 8, 16, "tclass"),
                (",hlimit=", 8, 0, "hlimit"),
            )
            scan.need("),")
            header += struct.pack("!IHBB", 6 << 28 | tclass << 20 | label, 0, proto, hlimit) + src6 + dst6
            is_ipv6 = True
        header, kind = _parse_tunnel_header(scan, header, is_ipv6)
        if kind != tnl_type:
            raise scan.error(f"tnl_push type={tnl_type} does not match the {kind} header written")
        if header_len != len(header):
            raise scan.error(f"tnl_push size={header_len} but the header written has {len(header)} bytes")
        (out_port,) = scan.numbers((",out_port(", 32, 0, "out_port"))
        scan.need("))")
    except NoMatch:
        raise scan.error("malformed tnl_push(...)") from None
    return _HEAD.pack(tnl_port, out_port, header_len, tnl_type) + bytes(header)


def _ipv6(scan: Scanner) -> bytes:
    address = scan.ipv6()
    if address is None:
        raise scan.error("expected an IPv6 address")
    return address


def _parse_tunnel_header(scan: Scanner, header: bytearray, is_ipv6: bool) -> tuple[bytearray, int]:
    # Each header is one ovs_scan() pattern in ovs_parse_tnl_push(): the literal
    # that selects it, then "field=%i" pieces; "))" closes the header(...) too.
    if scan.take("udp(src="):
        src, dst, csum = scan.numbers(
            ("", 16, 0, "udp src"), (",dst=", 16, 0, "udp dst"), (",csum=0x", 16, 16, "udp csum")
        )
        scan.need("),")
        header += struct.pack("!HHHH", src, dst, 0, csum)
        if scan.take("vxlan(flags=0x"):
            flags, vni = scan.numbers(("", 32, 16, "vxlan flags"), (",vni=0x", 24, 16, "vni"))
            scan.need("))")
            header += struct.pack("!II", flags, vni << 8)
            return header, _VXLAN
        if scan.take("geneve("):
            b1 = 0x80 if scan.take("oam,") else 0
            b1 |= 0x40 if scan.take("crit,") else 0
            (vni,) = scan.numbers(("vni=", 24, 0, "vni"))
            opts = b""
            if scan.take(",options("):
                opts = _parse_geneve_opts(scan)
            scan.need("))")
            header += struct.pack("!BBHI", len(opts) // 4, b1, _ETH_TYPE_TEB, vni << 8) + opts
            return header, _GENEVE
        if scan.take("gtpu(flags="):  # our extension: OVS 3.1.0 cannot read this back
            flags, msgtype, teid = scan.numbers(
                ("", 8, 0, "gtpu flags"), (",msgtype=", 8, 10, "msgtype"), (",teid=0x", 32, 16, "teid")
            )
            scan.need("))")
            header += struct.pack("!BBHI", flags, msgtype, 0, teid)
            return header, _GTPU
        raise scan.error("expected vxlan(, geneve( or gtpu( after udp(...)")
    if scan.take("gre((flags=0x"):
        flags, proto = scan.numbers(("", 16, 16, "gre flags"), (",proto=0x", 16, 16, "gre proto"))
        scan.need(")")
        header += struct.pack("!HH", flags, proto)
        for bit, name, size in ((_GRE_CSUM, "csum", 16), (_GRE_KEY, "key", 32), (_GRE_SEQ, "seq", 32)):
            if flags & bit:
                (value,) = scan.numbers((f",{name}=0x", size, 16, name))
                header += value.to_bytes(2, "big") + b"\0\0" if size == 16 else value.to_bytes(4, "big")
        scan.need("))")
        return header, _IP6GRE if is_ipv6 else _GRE
    if scan.take("erspan(ver="):  # our extension: OVS 3.1.0's scan pattern for it is malformed
        ver, sid = scan.numbers(("", 8, 0, "erspan ver"), (",sid=0x", 10, 16, "sid"))
        header += struct.pack("!HH", _GRE_SEQ, _ERSPAN1 if ver == 1 else _ERSPAN2) + bytes(4)
        ersh = bytes([ver << 4, 0, sid >> 8, sid & 0xFF])
        if ver == 1:
            (idx,) = scan.numbers((",idx=0x", 32, 16, "idx"))
            header += ersh + idx.to_bytes(4, "big")
        elif ver == 2:
            direction, hwid = scan.numbers((",dir=", 1, 10, "dir"), (",hwid=0x", 6, 16, "hwid"))
            header += ersh + bytes(6) + bytes([hwid >> 4, (hwid & 0xF) << 4 | direction << 3])
        else:
            raise scan.error("erspan ver must be 1 or 2")
        scan.need("))")
        return header, _IP6ERSPAN if is_ipv6 else _ERSPAN
    raise scan.error("expected udp(, gre( or erspan( in the tnl_push header")


def _parse_geneve_opts(scan: Scanner) -> bytes:
    """``{class=..,type=..,len=..,data}...)`` as scan_geneve() reads it without a mask; consumes the ')'."""
    out = bytearray()
    while scan.take("{"):
        cls = typ = 0
        length = 0
        data = b""
        if scan.take("class="):
            cls = scan.integer(16, 0, "class")
        scan.take(",")
        if scan.take("type="):
            typ = scan.integer(8, 0, "type")
        scan.take(",")
        if scan.take("len="):
            length = scan.integer(8, 0, "len")
            if length > 124 or length % 4:
                raise scan.error("geneve option len must be a multiple of 4 up to 124")
        scan.take(",")
        if length:
            value = scan.integer(8 * length, 0, "option data")
            data = value.to_bytes(length, "big")
        scan.need("}")
        out += struct.pack("!HBB", cls, typ, length // 4) + data
        if len(out) > 252:
            raise scan.error("geneve options longer than 252 bytes")
    scan.need(")")
    return bytes(out)
