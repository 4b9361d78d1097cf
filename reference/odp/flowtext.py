"""The dpctl flow-key text format: ``in_port(1),eth(src=...,dst=...),eth_type(0x0800),...``.

:func:`parse_flow` turns text into netlink key (and mask) bytes as OVS's
``odp_flow_from_string`` does; :func:`format_key` prints key (and mask) bytes
character for character as ``odp_flow_format`` does (``dpctl/dump-flows``
compact form, or ``-m`` verbose form). Both follow ``lib/odp-util.c`` of OVS
3.1 (the version Debian ships and we cross-check against).

Deliberate differences from OVS, all on bad input:

* integers are parsed with C ``%i`` rules (decimal, ``0x`` hex, leading ``0``
  octal) like OVS's ``ovs_scan``, but a value that does not fit its field is
  an :class:`OdpSyntaxError` (OVS silently truncates it);
* port names are out of scope: ``in_port(eth0)`` is refused (numbers only);
* keys or masks whose attributes have the wrong size raise
  :class:`OdpDecodeError` instead of printing ``(bad key length ...)``.

The printer and the parser live in :mod:`reference.odp._key_format` and
:mod:`reference.odp._key_parse`, both driven by the attribute table of
:mod:`reference.odp.keys` and the text exceptions of
:mod:`reference.odp._key_text`; this module is their public face.
"""

from __future__ import annotations

from reference.odp._key_format import format_key, format_key_attr
from reference.odp._key_parse import MAX_PARSE_NESTING, ParsedFlow, parse_flow, parse_key_attr

__all__ = [
    "MAX_PARSE_NESTING",
    "ParsedFlow",
    "format_key",
    "format_key_attr",
    "parse_flow",
    "parse_key_attr",
]
