"""Datapath actions (``OVS_ACTION_ATTR_*``): netlink bytes <-> dpctl text; no I/O.

* :func:`format_actions` prints netlink action bytes exactly as Open vSwitch
  3.1.0's ``format_odp_actions()`` (lib/odp-util.c) does with no port names:
  ``2,set(ipv4(src=10.0.0.1)),ct(commit,zone=5),recirc(0x1)``, ``drop`` for an
  empty list. Actions it cannot understand print as OVS prints them
  (``bad length 3, expected 4 for: action1(01 02 03)``, ``ct(error)``, ...);
  only broken netlink framing raises :class:`~reference.errors.OdpDecodeError`.
* :func:`parse_actions` parses that text back (``odp_actions_from_string()``):
  ``drop`` alone gives the explicit ``OVS_ACTION_ATTR_DROP`` attribute, an
  empty string gives the empty list. Errors raise
  :class:`~reference.errors.OdpSyntaxError` with the column.
* :func:`validate_actions` is the strict structural check a datapath applies
  before accepting actions (lengths, required nested attributes, nesting).

The three live in :mod:`reference.odp._action_format`,
:mod:`reference.odp._action_parse` and :mod:`reference.odp._action_validate`
over one description of the actions (:mod:`reference.odp._action_spec`); this
module is their public face.

Attribute numbers are those of :mod:`reference.uapi` (Linux UAPI; OVS HEAD's
userspace-only actions after them). OVS 3.1.0's own header numbers the
userspace-only actions differently (TUNNEL_PUSH 23, TUNNEL_POP 24, DROP 25,
LB_OUTPUT 26) and has no DEC_TTL/PSAMPLE; only the text is compared with it,
and for DEC_TTL and PSAMPLE the printed form is OVS HEAD's. Port names are
out of scope: ports are numbers.

Deliberate differences from OVS's parser (documented in the tests):

* Numbers out of range for their field, and negative numbers, are errors;
  OVS silently keeps the low bits.
* Accepted although OVS 3.1.0 rejects them, so that every form
  :func:`format_actions` prints parses back: ``hash(l4(N))``,
  ``hash(sym_l4(N))``, ``push_mpls(...)``, ``pop_mpls(eth_type=...)``,
  ``push_eth(src=...,dst=...)``, ``pop_eth`` (OVS has no parser for these, or
  an unreachable one), ``recirc(0x..)`` in hex (OVS scans ``%u`` but prints
  ``%#x``; without ``0x`` the number is decimal, as in OVS), ``drop`` as the whole list inside ``clone(...)``,
  ``sample(...,actions(...))`` and ``dec_ttl(le_1(...))``, and
  ``dec_ttl(le_1(...))`` itself, and slow_path reasons separated by ``,``
  (OVS prints ``slow_path(cfm,lacp)`` but parses only ``slow_path(cfm|lacp)``).
* ``tnl_push(...)`` (userspace tunnel push) is handled in
  :mod:`reference.odp._tnl_push`, which lists its own differences.
* ``push_nsh(...)``: a payload that OVS's ``odp_nsh_hdr_from_attr()``
  rejects prints as generic ``action17(..)`` hex (OVS prints a half-filled
  header there). ``set(nsh(...))`` is rejected when parsing, as OVS 3.1.0
  rejects it; a masked NSH set prints as ``format_odp_set_nsh()`` does.
"""

from __future__ import annotations

from reference.odp._action_format import format_actions
from reference.odp._action_parse import parse_actions
from reference.odp._action_spec import MAX_NESTING, USER_COOKIE_SIZE
from reference.odp._action_validate import validate_actions

__all__ = [
    "MAX_NESTING",
    "USER_COOKIE_SIZE",
    "format_actions",
    "parse_actions",
    "validate_actions",
]
