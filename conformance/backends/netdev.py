"""The ``netdev`` backend: Open vSwitch's userspace datapath (dpif-netdev) in a real ``ovs-vswitchd``.

By default :func:`netdev` starts a private ``ovsdb-server`` + ``ovs-vswitchd``
(:class:`conformance.backends._ovsd.PrivateOvs`: own run directory and network
namespace, a standalone ``netdev@ufidcert-*`` datapath, no bridge) and tears
it down on :meth:`NetdevDpif.close`. ``target=unix:PATH`` attaches to a
running ``ovs-vswitchd`` instead; then only a datapath of our own is created
and deleted.

Every :class:`~reference.dpif.Dpif` call becomes one ``dpctl/*`` unixctl
command (lib/dpctl.c), rendered and parsed with :mod:`reference.odp`:

=============================  ==============================================
``flow_put`` CREATE            ``dpctl/add-flow [ufid:U,]KEY ACTIONS``
``flow_put`` MODIFY            ``dpctl/mod-flow -s`` (``--clear`` with ZERO_STATS)
``flow_put`` CREATE|MODIFY     ``mod-flow -s``/``--clear``, then ``add-flow`` on ENOENT
``flow_get``                   ``dpctl/get-flow -m ufid:U`` (a key alone: see ``_generated_ufid``)
``flow_del``                   ``dpctl/del-flow -s ufid:U`` (or ``-s KEY``)
``flow_dump``                  ``dpctl/dump-flows -m --no-names``
``flow_flush``                 ``dpctl/del-flows``
``port_add`` / ``port_del``    ``dpctl/add-if NAME,type=dummy`` / ``dpctl/del-if``
``inject``                     ``netdev-dummy/receive NAME HEX`` (``port_type=dummy-pmd`` only)
=============================  ==============================================

Why CREATE|MODIFY is two commands: through ``ovs-appctl`` dpctl's options count
against the command's argument limit (lib/unixctl.c checks ``max_args`` before
lib/dpctl.c ``dpctl_unixctl_handler`` strips them), so ``mod-flow --may-create
--clear KEY ACTIONS`` (4 arguments, limit 3) cannot be sent, nor ``--may-create
-s``. dpif-netdev's ``flow_put_on_pmd`` (3.1.0) looks the flow up once and then
creates it (CREATE) or modifies it (MODIFY), so MODIFY followed by CREATE on
ENOENT gives the same outcome when nothing else writes the table meanwhile.

The datapath name is left out of each command while ours is the only
datapath of our own daemon; that frees the argument slot ``-s``/``--clear``
need. Attached to another daemon (``target=``) the name is always given, so
the stats a MODIFY or a delete returns come from a ``get-flow`` just before
it, and MODIFY|ZERO_STATS raises DpifNotSupported.

What dpctl cannot express is declared, never faked: terse replies
(``omit_flags=0``), ``execute``, upcalls (``recv_upcalls``; a standalone datapath has no
upcall handler), UFIDs that are not 16 bytes. Those raise
:class:`~reference.dpif.DpifNotSupported` naming the reason.

Errors: the daemon's text ``"<what> (<strerror>)"`` becomes the matching
:class:`~reference.dpif.DpifError` by errno, including the replies that carry
an error but come back as success (``dpctl/get-flow ufid:nothex``: lib/dpctl.c
leaves ``error`` 0 on that path, see ``dpctl_get_flow``). A dead or hung
daemon raises :class:`~conformance.errors.BackendUnavailable` within the
unixctl timeout, naming the cause; every later call fails at once.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from conformance.backends._ovs_install import OvsInstall, resolve_install
from conformance.backends._ovsd import PrivateOvs, ovs_available
from conformance.backends.unixctl import UnixctlClient, UnixctlError, errno_from_message
from conformance.errors import BackendUnavailable, UsageError
from conformance.provenance import Provenance
from conformance.registry import declare_factory
from reference.dpif import (
    Dpif,
    DpifError,
    DpifFeatures,
    DpifFlow,
    DpifInvalid,
    DpifNotFound,
    DpifNotSupported,
    FlowStats,
    PutFlags,
    UfidArg,
    Upcall,
    dpif_error,
)
from reference.errors import UfidcertError
from reference.odp import format_actions, format_key, parse_actions, parse_flow
from reference.uapi import UfidFlags
from reference.ufid import Ufid

__all__ = ["NetdevDpif", "ParsedLine", "netdev", "parse_flow_line", "parse_stats"]

_OPTIONS = ("target", "timeout", "ports", "port_type", "ovs")
_PORT_TYPES = ("dummy", "dummy-pmd")
# lib/dpctl.c all_commands[]: max_args of each command as registered with unixctl.
_MAX_ARGS = {"add-flow": 3, "mod-flow": 3, "get-flow": 2, "del-flow": 2, "dump-flows": 6, "del-flows": 2}
# lib/packets.c packet_format_tcp_flags: one character (or [bit]) per flag.
_TCP_FLAG_CHARS = {
    "S": 0x002,
    "F": 0x001,
    "P": 0x008,
    "R": 0x004,
    "U": 0x020,
    ".": 0x010,
    "E": 0x040,
    "C": 0x080,
    "N": 0x100,
}
_TCP_FLAG_WORDS = re.compile(r"\[(200|400|800)\]")
# lib/dpctl.c dpctl_error: "<program>: <what> (<strerror>)" as the first line of a reply.
_ERROR_LINE = re.compile(r"^[A-Za-z0-9_.-]+: .*\([^()]+\)\s*$")
_PORT_LINE = re.compile(r"^\s*port (\d+): (\S+)")
# lib/odp-util.c prints a known port by name (odp_portno_name_format) when names are on.
_IN_PORT_NAME = re.compile(r"(?<![a-z_])in_port\(([A-Za-z][A-Za-z0-9_.-]*)\)")
_ACTION_PORT_NAME = re.compile(r"(?:(?<=^)|(?<=[,(]))([A-Za-z][A-Za-z0-9_.-]*)(?=[,)]|$)")
_TRANSPORT_ERRNOS = frozenset(
    {
        _errno.ECONNRESET,
        _errno.ECONNREFUSED,
        _errno.ENOENT,
        _errno.EPIPE,
        _errno.ETIMEDOUT,
        _errno.EPROTO,
        _errno.ENOTCONN,
        _errno.ECONNABORTED,
    }
)


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One flow as dpctl prints it: UFID (when printed), key/mask text, stats and actions text."""

    ufid: Ufid | None
    key_text: str
    stats: FlowStats
    actions_text: str


def parse_stats(fields: list[str], *, now_ms: int) -> FlowStats:
    """``packets:N``, ``bytes:N``, ``used:never|S.MMMs``, ``flags:...`` fields (lib/dpif.c dpif_flow_stats_format).

    ``used`` is printed as an age; it becomes an absolute time on this
    process's monotonic clock (``now_ms`` minus the age, at least 1).
    """
    packets = n_bytes = used = flags = 0
    for item in fields:
        name, sep, value = item.partition(":")
        if not sep:
            continue
        try:
            if name == "packets":
                packets = int(value)
            elif name == "bytes":
                n_bytes = int(value)
            elif name == "used" and value != "never":
                age_ms = round(float(value.rstrip("s")) * 1000)
                used = max(1, now_ms - age_ms)
            elif name == "flags" and value != "none":
                flags = _parse_tcp_flags(value)
        except ValueError:
            raise DpifError(f"unexpected stats field {item!r} in a dpctl reply", errno=_errno.EPROTO) from None
    return FlowStats(n_packets=packets, n_bytes=n_bytes, used_ms=used, tcp_flags=flags)


def _parse_tcp_flags(text: str) -> int:
    flags = 0
    for word in _TCP_FLAG_WORDS.findall(text):
        flags |= int(word, 16)
    for ch in _TCP_FLAG_WORDS.sub("", text):
        bit = _TCP_FLAG_CHARS.get(ch)
        if bit is None:
            raise ValueError(ch)
        flags |= bit
    return flags


def parse_flow_line(line: str, *, now_ms: int, known: tuple[str, Ufid] | None = None) -> ParsedLine:
    """Split one ``dump-flows``/``get-flow`` line (lib/dpctl.c format_dpif_flow).

    ``[ufid:U, ]KEY, packets:N, bytes:N, used:T[, flags:F][, dp:D], actions:A[, dp-extra-info:X]``.
    Keys and actions contain no ``", "`` (attributes are joined by ``","``).
    ``known`` is a UFID's text and value expected in the line (saves parsing it again).
    """
    rest = line.strip()
    ufid: Ufid | None = None
    if rest.startswith("ufid:"):
        head, sep, rest = rest.partition(", ")
        if not sep:
            raise DpifError(f"dpctl line has a UFID but no key: {line!r}", errno=_errno.EPROTO)
        if known is not None and head == known[0]:
            return _split_rest(line, rest, known[1], now_ms)
        try:
            ufid = Ufid.parse(head)
        except UfidcertError as exc:
            raise DpifError(f"unparsable UFID in dpctl line {line!r}: {exc}", errno=_errno.EPROTO) from None
    return _split_rest(line, rest, ufid, now_ms)


def _split_rest(line: str, rest: str, ufid: Ufid | None, now_ms: int) -> ParsedLine:
    key_text, sep, tail = rest.partition(", packets:")
    if not sep:
        raise DpifError(f"dpctl line has no stats: {line!r}", errno=_errno.EPROTO)
    tail = "packets:" + tail
    stats_part, sep, actions_part = tail.partition(", actions:")
    if not sep:
        if not tail.startswith("actions:"):
            raise DpifError(f"dpctl line has no actions: {line!r}", errno=_errno.EPROTO)
        stats_part, actions_part = "", tail[len("actions:") :]
    actions_text = actions_part.split(", dp-extra-info:", 1)[0]
    stats = parse_stats(stats_part.split(", "), now_ms=now_ms)
    return ParsedLine(ufid, key_text, stats, actions_text)


def _split_attrs(text: str) -> list[str]:
    """The top-level attributes of a flow key text (``a(..),b(..(..))`` -> ``["a(..)", "b(..(..))"]``)."""
    flat = text.split("),")
    if all(piece.count("(") == 1 and piece.count(")") <= 1 for piece in flat):
        return [piece if piece.endswith(")") else piece + ")" for piece in flat if piece]
    pieces: list[str] = []  # nested attributes (encap, tunnel, nsh): track the depth
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            if i > start:
                pieces.append(text[start:i])
            start = i + 1
    if len(text) > start:
        pieces.append(text[start:])
    return pieces


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


def _ufid_text(ufid: UfidArg | None) -> str | None:
    if ufid is None:
        return None
    if isinstance(ufid, Ufid):
        return str(ufid)
    raw = bytes(ufid)
    if len(raw) != 16:
        # dpctl's odp_ufid_from_string only reads a 16-byte 8-4-4-4-12 UUID.
        raise DpifNotSupported(f"dpctl can only send 16-byte UFIDs; cannot express a {len(raw)}-byte UFID")
    return str(Ufid.from_wire(raw))


class NetdevDpif(Dpif):
    """OVS's userspace datapath in a real ``ovs-vswitchd``, driven through ``dpctl/*`` unixctl commands.

    Open it with :func:`netdev` (or ``ufidcert certify --backend netdev``).
    ``target`` is ``None`` (start private daemons) or ``"unix:PATH"`` of a
    running ``ovs-vswitchd``'s control socket.
    """

    def __init__(
        self,
        *,
        target: str | None = None,
        timeout: float = 10.0,
        ports: int = 2,
        port_type: str = "dummy",
        install: OvsInstall | None = None,
    ) -> None:
        if port_type not in _PORT_TYPES:
            raise UsageError(f"option port_type={port_type!r}: expected one of {', '.join(_PORT_TYPES)}")
        self.timeout = timeout
        self.port_type = port_type
        self._ovs: PrivateOvs | None = None
        self._client: UnixctlClient | None = None
        self._dead: str | None = None
        self._port_names: dict[int, str] = {}
        self._names: dict[str, int] = {}  # every port of our datapath, by name (for -m replies)
        self._owned_ports: set[int] = set()
        self._closed = False
        self._lock = threading.RLock()  # a scratch datapath must not be seen by other commands
        self._ufid_cache: dict[str, Ufid] = {}
        self._attr_cache: dict[str, tuple[bytes, bytes]] = {}
        self._actions_cache: dict[str, bytes] = {}
        if target is None:
            self._ovs = PrivateOvs(ports=0, timeout=timeout, install=install)
            self._ovs.start()
            self._client = self._ovs.client
            self.dp = self._ovs.dp
            self.version = self._ovs.version
            self.origin = self._ovs.installed.origin
        else:
            if not target.startswith("unix:"):
                raise UsageError(f"option target={target!r}: expected unix:PATH of ovs-vswitchd's control socket")
            try:
                self._client = UnixctlClient(target[len("unix:") :], timeout=timeout)
                self.version = self._client.call("version").strip()
                self.origin = target
                self.dp = f"netdev@ufidcert-{secrets.token_hex(3)}"
                self._client.call("dpctl/add-dp", self.dp)
            except UnixctlError as exc:
                if self._client is not None:
                    self._client.close()
                raise BackendUnavailable(f"cannot use ovs-vswitchd at {target}: {exc}") from None
        self.description = (
            f"Open vSwitch userspace datapath (dpif-netdev), {self.version} from {self.origin}, {self.dp}"
        )
        # What ran, as the daemon itself says (its "version" reply), and where it came from.
        self.provenance = (Provenance("ovs-vswitchd", self.version, self.origin),)
        # dpctl accepts options only within a command's argument limit; leaving
        # the datapath name out frees one slot, which works only while ours is
        # the daemon's only datapath (lib/dpctl.c get_one_dp). Only our own
        # daemon guarantees that for the whole run: someone else's may gain a
        # datapath at any time, so attached we always name ours.
        self._omit_dp = self._ovs is not None and self._call("dpctl/dump-dps").split() == [self.dp]
        for i in range(1, ports + 1):
            self.port_add(f"p{i}")

    # -- plumbing ------------------------------------------------------------------

    def _check_alive(self) -> None:
        if self._dead is not None:
            raise BackendUnavailable(self._dead)
        if self._closed:
            raise BackendUnavailable(f"{self.dp} is closed")

    def _daemon_gone(self, exc: UnixctlError) -> BackendUnavailable:
        why = str(exc)
        if self._ovs is not None and "ovs-vswitchd" not in self._ovs.pids:
            why = f"ovs-vswitchd exited (it is no longer running): {exc}"
        self._dead = f"netdev backend unusable: {why}"
        return BackendUnavailable(self._dead)

    def _call(self, method: str, *params: str) -> str:
        """One unixctl call; error replies become DpifError, a dead daemon BackendUnavailable."""
        self._check_alive()
        assert self._client is not None
        try:
            reply = self._client.call(method, *params)
        except UnixctlError as exc:
            if exc.reply is None:
                # No reply from the daemon: socket gone, reset or timed out.
                raise self._daemon_gone(exc) from None
            code = exc.errno or errno_from_message(exc.reply) or _errno.EINVAL
            raise dpif_error(code, f"{method}: {exc.reply.strip()}") from None
        first = reply.split("\n", 1)[0]
        if _ERROR_LINE.match(first) and not first.startswith(("packets:", "recirc_id", "ufid:")):
            # lib/dpctl.c reports some errors as a successful reply (dpctl_get_flow: a bad UFID leaves error 0).
            code = errno_from_message(first) or _errno.EINVAL
            raise dpif_error(code, f"{method}: {reply.strip()} (an error text in a successful reply)")
        return reply

    def _dpctl(self, cmd: str, *args: str, opts: tuple[str, ...] = ()) -> str:
        params = [*opts, *args] if self._omit_dp else [*opts, self.dp, *args]
        if len(params) > _MAX_ARGS.get(cmd, 99):
            raise DpifNotSupported(
                f"dpctl/{cmd} through unixctl takes at most {_MAX_ARGS[cmd]} arguments (options count); "
                f"cannot send {' '.join(params[:4])}... while other datapaths exist"
            )
        with self._lock:
            return self._call(f"dpctl/{cmd}", *params)

    def _fits(self, cmd: str, n_args: int) -> bool:
        return n_args + (0 if self._omit_dp else 1) <= _MAX_ARGS[cmd]

    @staticmethod
    def _flow_text(key: bytes, mask: bytes | None, ufid: str | None) -> str:
        try:
            text = format_key(key, mask, verbose=True)  # every attribute, even fully wildcarded ones
        except UfidcertError as exc:
            raise DpifInvalid(f"key/mask cannot be rendered as dpctl text: {exc}") from None
        return f"{ufid},{text}" if ufid else text

    @staticmethod
    def _actions_text(actions: bytes) -> str:
        if not actions:
            return ""  # "drop" would be parsed into an explicit OVS_ACTION_ATTR_DROP
        try:
            return format_actions(actions)
        except UfidcertError as exc:
            raise DpifInvalid(f"actions cannot be rendered as dpctl text: {exc}") from None

    def _parse_key(self, text: str) -> tuple[bytes, bytes]:
        """``parse_flow(text)`` key and mask, attribute by attribute through a cache.

        Dumped keys repeat most attributes (``skb_priority(0/0)``, ``eth(...)``,
        ...), and parse_flow handles each top-level attribute on its own, so
        parsing only the attributes not seen before gives the same bytes
        (checked against parse_flow in the tests) several times faster.
        """
        cache = self._attr_cache
        keys: list[bytes] = []
        masks: list[bytes] = []
        for piece in _split_attrs(text):
            hit = cache.get(piece)
            if hit is None:
                flow = parse_flow(piece)
                hit = (flow.key, flow.mask or b"")
                if len(cache) > 65536:
                    cache.clear()
                cache[piece] = hit
            keys.append(hit[0])
            masks.append(hit[1])
        return b"".join(keys), b"".join(masks)

    def _parse_actions(self, text: str) -> bytes:
        if text == "drop":
            return b""  # what dpif-netdev prints for no actions
        cache = self._actions_cache
        hit = cache.get(text)
        if hit is None:
            hit = parse_actions(text)
            if len(cache) > 4096:
                cache.clear()
            cache[text] = hit
        return hit

    def _to_flow(self, parsed: ParsedLine, ufid: Ufid | None) -> DpifFlow:
        try:
            key, mask = self._parse_key(parsed.key_text)
            actions = self._parse_actions(parsed.actions_text)
        except UfidcertError as exc:
            raise DpifError(
                f"cannot parse the daemon's flow text {parsed.key_text!r}: {exc}", errno=_errno.EPROTO
            ) from None
        the_ufid = parsed.ufid or ufid
        return DpifFlow(
            ufid=the_ufid,
            ufid_present=the_ufid is not None,
            key=key,
            mask=mask,
            actions=actions,
            stats=parsed.stats,
            ufid_bytes=the_ufid.to_wire() if the_ufid is not None else None,
        )

    def _stats_reply(self, reply: str) -> FlowStats:
        line = reply.strip().split("\n", 1)[0]
        return parse_stats(line.split(", "), now_ms=_now_ms()) if line.startswith("packets:") else FlowStats()

    # -- flows -------------------------------------------------------------------

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        """Install or modify a flow with add-flow / mod-flow; see the module docstring for the mapping."""
        flags = PutFlags(flags)
        if flags & ~(PutFlags.CREATE | PutFlags.MODIFY | PutFlags.ZERO_STATS | PutFlags.PROBE):
            raise DpifInvalid(f"unknown put flags {int(flags):#x}")
        flow = self._flow_text(key, mask, _ufid_text(ufid))
        acts = self._actions_text(actions)
        if not flags & PutFlags.MODIFY:
            # CREATE (ZERO_STATS only acts on a modified flow; PROBE only silences logs).
            if flags & PutFlags.CREATE:
                self._dpctl("add-flow", flow, acts)
                return FlowStats()
            # add-flow always sends CREATE and mod-flow always MODIFY.
            raise DpifNotSupported("dpctl cannot send a put with neither CREATE nor MODIFY")
        opts = ("--clear",) if flags & PutFlags.ZERO_STATS else ("-s",)
        try:
            if self._fits("mod-flow", 3):
                stats = self._stats_reply(self._dpctl("mod-flow", flow, acts, opts=opts))
            elif flags & PutFlags.ZERO_STATS:
                raise DpifNotSupported("mod-flow --clear needs the datapath name left out (other datapaths exist)")
            else:
                before = self._get_stats(ufid)
                self._dpctl("mod-flow", flow, acts)
                stats = before
        except DpifNotFound:
            if not flags & PutFlags.CREATE:
                raise
            self._dpctl("add-flow", flow, acts)
            return FlowStats()
        return stats

    def _get_stats(self, ufid: UfidArg | None) -> FlowStats:
        if ufid is None:
            return FlowStats()
        try:
            return self.flow_get(ufid=ufid).stats
        except DpifNotFound:
            return FlowStats()

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        """dpctl/get-flow by UFID (full reply even when terse: dpctl has no terse form)."""
        text = _ufid_text(ufid)
        if text is None:
            if key is None:
                raise DpifInvalid("flow_get needs a UFID or a key")
            text = str(self._generated_ufid(key))
        # Only the -m form prints every attribute (the short form leaves fully
        # wildcarded fields out, losing their unmasked values), and through
        # unixctl "-m --no-names [dp] ufid" exceeds get-flow's two arguments: so
        # -m with port names, mapped back to numbers, when the name can be left out.
        verbose = self._fits("get-flow", 2)
        reply = self._dpctl("get-flow", text, opts=("-m",) if verbose else ())
        lines = [ln for ln in reply.splitlines() if ln.strip()]
        if len(lines) != 1:
            raise DpifError(f"dpctl/get-flow returned {len(lines)} lines: {reply!r}", errno=_errno.EPROTO)
        the_ufid = ufid if isinstance(ufid, Ufid) else Ufid.parse(text)
        parsed = parse_flow_line(lines[0], now_ms=_now_ms(), known=(text, the_ufid))
        if verbose:
            parsed = self._unname(parsed)
        return self._to_flow(parsed, the_ufid)

    def _unname(self, parsed: ParsedLine) -> ParsedLine:
        """Port names in a ``-m`` line (``in_port(p1)``, ``actions:p2``) replaced by their numbers."""
        names = self._names
        if not names or any(name not in names for name in _IN_PORT_NAME.findall(parsed.key_text)):
            names = self._names = self._ports()

        def sub(m: re.Match[str]) -> str:
            number = names.get(m.group(1))
            return m.group(0) if number is None else m.group(0).replace(m.group(1), str(number))

        key_text = _IN_PORT_NAME.sub(sub, parsed.key_text)
        actions_text = _ACTION_PORT_NAME.sub(sub, parsed.actions_text)
        return ParsedLine(parsed.ufid, key_text, parsed.stats, actions_text)

    def _generated_ufid(self, key: bytes) -> Ufid:
        """The UFID this daemon gives ``key`` when it arrives without one.

        dpif-netdev looks a flow up by key by hashing the key into a UFID
        (``odp_flow_key_hash``, a random seed per process), but dpctl/get-flow
        takes only a UFID. dpctl/add-flow hashes a key the same way (lib/dpctl.c
        ``dpctl_put_flow_dpif``), so the key is added without a UFID to a
        short-lived scratch datapath of the same daemon and its UFID read back
        from the dump. Cached: the seed never changes while the daemon runs.
        """
        text = self._flow_text(key, None, None)
        cached = self._ufid_cache.get(text)
        if cached is not None:
            return cached
        scratch = f"netdev@ufidscr-{secrets.token_hex(3)}"
        with self._lock:
            self._call("dpctl/add-dp", scratch)
            try:
                self._call("dpctl/add-flow", scratch, text, "")
                dump = self._call("dpctl/dump-flows", "-m", "--no-names", scratch)
            finally:
                if self._dead is None:
                    self._call("dpctl/del-dp", scratch)
        ufids = [parse_flow_line(ln, now_ms=0).ufid for ln in dump.splitlines() if ln.startswith("ufid:")]
        if len(ufids) != 1 or ufids[0] is None:
            raise DpifError(f"scratch datapath {scratch} dumped {len(ufids)} flows for one key", errno=_errno.EPROTO)
        self._ufid_cache[text] = ufids[0]
        return ufids[0]

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        """dpctl/del-flow -s by UFID, or by key (dpctl hashes the key into the UFID it would have got)."""
        text = _ufid_text(ufid)
        if text is None:
            if key is None:
                raise DpifInvalid("flow_del needs a UFID or a key (use flow_flush to delete every flow)")
            text = self._flow_text(key, None, None)
        if self._fits("del-flow", 2):
            return self._stats_reply(self._dpctl("del-flow", text, opts=("-s",)))
        before = self._get_stats(ufid)
        self._dpctl("del-flow", text)
        return before

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        """dpctl/dump-flows -m --no-names, one DpifFlow per printed flow (full even when terse)."""
        reply = self._dpctl("dump-flows", opts=("-m", "--no-names"))
        now = _now_ms()
        flows = [
            self._to_flow(parse_flow_line(line, now_ms=now), None)
            for line in reply.splitlines()
            if line.strip() and not line.startswith("flow-dump from")
        ]
        return iter(flows)

    def flow_flush(self) -> None:
        """dpctl/del-flows."""
        self._dpctl("del-flows")

    # -- ports and packets ----------------------------------------------------------

    def _ports(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in self._call("dpctl/show", self.dp).splitlines():
            m = _PORT_LINE.match(line)
            if m:
                out[m.group(2)] = int(m.group(1))
        return out

    def port_add(self, name: str) -> int:
        """dpctl/add-if DP NAME,type=dummy (or dummy-pmd); returns the datapath port number."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", name):
            raise DpifInvalid(f"port name {name!r}: 1-15 letters, digits, '_', '.' or '-'")
        if name in self._ports():
            raise dpif_error(_errno.EEXIST, f"port {name!r} exists")
        self._call("dpctl/add-if", self.dp, f"{name},type={self.port_type}")
        number = self._ports().get(name)
        if number is None:
            raise DpifError(f"port {name!r} did not appear in dpctl/show {self.dp}", errno=_errno.EPROTO)
        self._port_names[number] = name
        self._owned_ports.add(number)
        self._names = {}  # re-read on the next -m reply that names a port
        return number

    def port_del(self, port: int) -> None:
        """dpctl/del-if DP NAME."""
        by_number = {v: k for k, v in self._ports().items()}
        name = by_number.get(port)
        if name is None:
            raise DpifNotFound(f"no port {port} in {self.dp}")
        self._call("dpctl/del-if", self.dp, name)
        self._port_names.pop(port, None)
        self._owned_ports.discard(port)

    def _lookups(self) -> int:
        reply = self._call("dpctl/show", self.dp)
        m = re.search(r"lookups: hit:(\d+) missed:(\d+) lost:(\d+)", reply)
        return sum(int(x) for x in m.groups()) if m else 0

    def inject(self, port: int, packet: bytes) -> None:
        """netdev-dummy/receive NAME HEX; waits until the datapath has looked the frame up.

        Only ``port_type=dummy-pmd`` ports are polled: nothing runs
        ``dpif_run`` for a standalone datapath's plain dummy ports.
        """
        if self.port_type != "dummy-pmd":
            raise DpifNotSupported(
                "frames sent to a standalone datapath's dummy ports are never processed (no bridge runs dpif_run); "
                "open the backend with port_type=dummy-pmd"
            )
        name = self._port_names.get(port) or {v: k for k, v in self._ports().items()}.get(port)
        if name is None:
            raise DpifNotFound(f"no port {port} in {self.dp}")
        before = self._lookups()
        self._call("netdev-dummy/receive", name, packet.hex())
        deadline = time.monotonic() + self.timeout
        while self._lookups() == before:
            if time.monotonic() > deadline:
                raise DpifError(
                    f"{self.dp} did not process the frame within {self.timeout:g} s", errno=_errno.ETIMEDOUT
                )
            time.sleep(0.001)

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        """Not available: a standalone dpif-netdev datapath has no upcall handler to deliver misses to."""
        raise DpifNotSupported(
            "a standalone dpif-netdev datapath has no upcall handler; misses are counted as lost (dpctl/show)"
        )

    @property
    def features(self) -> DpifFeatures:
        """netdev semantics, 16-byte UFIDs, no terse replies (dpctl prints full flows only)."""
        return DpifFeatures(
            ufid=True,
            omit_flags=UfidFlags(0),
            max_ufid_len=16,
            semantics="netdev",
            packet_io=self.port_type == "dummy-pmd",
            # ovs-appctl dpctl/add-flow and mod-flow give every UFID-less put the
            # UFID odp_flow_key_hash() makes of its key (lib/dpctl.c
            # dpctl_put_flow_dpif, "if (!ufid_present && dpctl_p->is_appctl)"),
            # so dpif-netdev never sees a put without one. Since 3.1.3 a put
            # with a UFID is looked up by UFID and one without by key
            # (flow_put_on_pmd, upstream 21410ff80), so the two are different
            # requests and the first cannot be sent from here.
            ufidless_put=False,
        )

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop the private daemons, or (attached) delete our datapath. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._ovs is not None:
            self._ovs.close()
            self._ovs = None
        elif self._client is not None:
            if self._dead is None:
                with contextlib.suppress(UnixctlError):
                    self._client.call("dpctl/del-dp", self.dp)
            self._client.close()
        self._client = None

    def __repr__(self) -> str:
        return f"NetdevDpif(dp={self.dp!r}, version={self.version!r})"


def _unavailable() -> str | None:
    return ovs_available()


def netdev(**options: str) -> Dpif:
    """Open vSwitch's userspace datapath (dpif-netdev): through dpctl in ovs-vswitchd, or via=dpif in-process.

    ``via=dpctl`` (the default) or ``via=dpif`` (OVS's own dpif API through
    the driver in dpifdrv/; its options are in
    :mod:`conformance.backends.netdev_dpif`). dpctl options:
    ``target=unix:PATH`` (attach to a running ovs-vswitchd),
    ``timeout`` (seconds per command, default 10), ``ports`` (dummy ports
    to add, default 2), ``port_type`` (``dummy`` or ``dummy-pmd``: the
    latter starts a busy-polling PMD thread and enables ``inject``),
    ``ovs`` (the version under test: ``debian:RELEASE`` for that Debian
    release's ovs-vswitchd in a cached minimal root, a directory holding an
    OVS prefix or build tree, default the host's installed one).
    """
    via = options.pop("via", "dpctl")
    if via == "dpif":
        from conformance.backends.netdev_dpif import open_netdev_dpif

        return open_netdev_dpif(**options)
    if via != "dpctl":
        raise UsageError(f"option via={via!r}: expected dpctl or dpif")
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)}; netdev takes via, {', '.join(_OPTIONS)}")
    try:
        timeout = float(options.get("timeout", "10"))
        ports = int(options.get("ports", "2"))
    except ValueError:
        raise UsageError("options timeout and ports must be numbers") from None
    if timeout <= 0 or ports < 0:
        raise UsageError("option timeout must be > 0 and ports >= 0")
    target = options.get("target")
    install = None
    if target is None:
        install = resolve_install(options.get("ovs"))
        reason = ovs_available(install)
        if reason is not None:
            raise BackendUnavailable(reason)
    elif "ovs" in options:
        raise UsageError("options target and ovs exclude each other: an attached daemon is the version under test")
    return NetdevDpif(
        target=target, timeout=timeout, ports=ports, port_type=options.get("port_type", "dummy"), install=install
    )


# Opening may build a Debian root for ovs=debian:RELEASE before the daemons start.
declare_factory(unavailable_reason=_unavailable, open_timeout_s=1800)(netdev)
