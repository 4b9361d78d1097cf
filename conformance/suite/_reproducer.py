"""Turn a recorded operation sequence into a runnable Python snippet and ``ovs-appctl dpctl/...`` commands.

The differential state machine records every step as a :class:`Step`;
on failure the shrunk sequence is rendered here so that a backend author
can replay it without the suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reference.dpif import PutFlags
from reference.ufid import Ufid

__all__ = ["Step", "render_dpctl", "render_python"]


@dataclass(frozen=True, slots=True)
class Step:
    """One operation: its name, arguments and the outcome seen on the backend under test."""

    op: str  # put | get | del | dump | flush | inject | upcalls
    key: bytes | None = None
    mask: bytes | None = None
    actions: bytes | None = None
    ufid: Ufid | None = None
    flags: int = 0
    terse: bool = False
    port: int = 0
    packet: bytes = b""
    outcome: str = ""


def _b(data: bytes | None) -> str:
    return "None" if data is None else f'bytes.fromhex("{data.hex()}")'


def _u(ufid: Ufid | None) -> str:
    return "None" if ufid is None else f'Ufid.parse("{ufid}")'


def _call(s: Step) -> str:
    if s.op == "put":
        return (
            f"dpif.flow_put({_b(s.key)}, {_b(s.mask)}, {_b(s.actions)}, ufid={_u(s.ufid)}, flags=PutFlags({s.flags}))"
        )
    if s.op in ("get", "del"):
        fn = "flow_get" if s.op == "get" else "flow_del"
        return f"dpif.{fn}(ufid={_u(s.ufid)}, key={_b(s.key)}, terse={s.terse})"
    if s.op == "dump":
        return f"list(dpif.flow_dump(terse={s.terse}))"
    if s.op == "flush":
        return "dpif.flow_flush()"
    if s.op == "inject":
        return f"dpif.inject({s.port}, {_b(s.packet)})"
    if s.op == "upcalls":
        return "dpif.recv_upcalls(64)"
    raise ValueError(f"unknown step {s.op!r}")


def render_python(steps: Sequence[Step], *, spec: str, options: dict[str, str], failure: str, ports: int = 0) -> str:
    """A script that replays ``steps`` against the backend ``spec`` and prints each outcome."""
    lines = [
        "# Replays the failing sequence found by ufidcert's differential state machine.",
        *(f"# {'Failure: ' if i == 0 else '  '}{ln}" for i, ln in enumerate(failure.splitlines() or [""])),
        "from reference.dpif import DpifError, PutFlags",
        "from reference.ufid import Ufid",
        "from conformance.registry import open_backend",
        "",
        "def step(what, fn):",
        "    try:",
        "        print(what, '->', fn())",
        "    except DpifError as exc:",
        "        print(what, '->', 'errno', exc.errno, exc)",
        "",
        f"dpif = open_backend({spec!r}, {options!r})",
        "dpif.flow_flush()",
    ]
    if ports:
        lines.append(
            f"print('ports:', [dpif.port_add(f'ufcrepro{{i}}') for i in range({ports})])  # the frames use these"
        )
    for i, s in enumerate(steps):
        lines.append(f"step({i!r}, lambda: {_call(s)})  # backend under test gave: {s.outcome}")
    lines.append("dpif.close()")
    return "\n".join(lines) + "\n"


def _flow_text(key: bytes | None, mask: bytes | None, ufid: Ufid | None) -> str:
    text = ""
    if key is not None:
        try:
            from reference.odp import format_key

            # The -m form: fields under a zero mask are written too ("x/0"), so the key's
            # bits under a zero mask reach the datapath as they do from the Python replay.
            text = format_key(key, mask, verbose=True)
        except Exception:  # a key the codec cannot print: keep the hex
            text = f"<key hex {key.hex()}>"
    prefix = f"{ufid}," if ufid is not None else ""  # str(Ufid) is "ufid:<uuid>"
    return prefix + text


def _lost_bits(key: bytes, mask: bytes | None) -> str | None:
    """Why dpctl's flow text of ``key``/``mask`` does not parse back to the same bytes, or None."""
    try:
        from reference.odp import canonical_key, decode_key, format_key, parse_flow
        from reference.odp.keys import KEY_ATTRS

        parsed = parse_flow(format_key(key, mask, verbose=True), with_mask=mask is not None)
        if canonical_key(parsed.key) == canonical_key(key):
            return None
        back = {a.type: a.body for a in decode_key(parsed.key).attrs}
        lost = [
            KEY_ATTRS[a.type].name if a.type in KEY_ATTRS else str(a.type)
            for a in decode_key(key).attrs
            if back.get(a.type) != a.body
        ]
        return f"the flow text drops key bits of {', '.join(lost) or 'the key'} (under a zero mask)"
    except Exception as exc:  # no flow text at all
        return f"the key has no dpctl flow text ({type(exc).__name__}: {exc})"


def _actions_text(actions: bytes | None) -> str:
    from conformance.suite._flows import actions_text

    return actions_text(actions or b"")


def render_dpctl(steps: Sequence[Step], *, dp: str = "DP") -> str:
    """The same sequence as ``ovs-appctl dpctl/...`` commands (comments where dpctl has no equivalent)."""
    lines = [
        f"# Equivalent dpctl commands (datapath {dp}); dpctl has no terse option and get-flow takes a UFID.",
        "# Keys are written in full (-m form, 'field(value/0)' for wildcarded fields); a step whose key",
        "# dpctl cannot carry bit for bit says so in a NOTE.",
    ]
    lines.append(f"ovs-appctl dpctl/del-flows {dp}")
    for i, s in enumerate(steps):
        if s.op == "put" and s.key is not None:
            why = _lost_bits(s.key, s.mask)
            if why is not None:
                lines.append(f"# NOTE: step {i} cannot be reproduced exactly with dpctl: {why}; the Python replay can")
        if s.op == "put":
            flow = _flow_text(s.key, s.mask, s.ufid)
            acts = _actions_text(s.actions)
            flags = PutFlags(s.flags)
            if PutFlags.MODIFY not in flags:
                cmd = f"ovs-appctl dpctl/add-flow {dp} '{flow}' '{acts}'"
            else:
                opts = ("--may-create " if PutFlags.CREATE in flags else "") + (
                    "--clear " if PutFlags.ZERO_STATS in flags else ""
                )
                cmd = f"ovs-appctl dpctl/mod-flow {opts}{dp} '{flow}' '{acts}'"
        elif s.op == "get":
            cmd = (
                f"ovs-appctl dpctl/get-flow {dp} {s.ufid}"
                if s.ufid is not None
                else f"# get by key {_flow_text(s.key, None, None)}: no dpctl equivalent"
            )
        elif s.op == "del":
            if s.ufid is None and s.key is None:
                cmd = f"ovs-appctl dpctl/del-flows {dp}"
            else:
                cmd = f"ovs-appctl dpctl/del-flow {dp} '{_flow_text(s.key, None, s.ufid)}'"
        elif s.op == "dump":
            cmd = f"ovs-appctl dpctl/dump-flows -m {dp}" + ("  # terse requested" if s.terse else "")
        elif s.op == "flush":
            cmd = f"ovs-appctl dpctl/del-flows {dp}"
        elif s.op == "inject":
            cmd = f"ovs-appctl netdev-dummy/receive <port {s.port}> {s.packet.hex()}"
        else:
            cmd = "# recv_upcalls: no dpctl equivalent"
        lines.append(f"{cmd}    # -> {s.outcome}")
    return "\n".join(lines) + "\n"
