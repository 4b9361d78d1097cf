"""The one wrapper every mutant is: a :class:`Dpif` that forwards to ``inner`` through a mutant's hooks."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

from reference.dpif import (
    DelOp,
    Dpif,
    DpifError,
    DpifFeatures,
    DpifFlow,
    DpifOp,
    DpifOpResult,
    FlowStats,
    GetOp,
    PutOp,
    UfidArg,
    check_max_flows,
)

__all__ = ["ALL_KINDS", "Hooks", "Kind", "MutantDpif", "do_del", "do_get", "do_put", "ident"]

Kind: TypeAlias = Literal["put", "get", "get-terse", "dump", "dump-terse", "del", "del-terse"]
ALL_KINDS: tuple[Kind, ...] = ("put", "get", "get-terse", "dump", "dump-terse", "del", "del-terse")

# A forwarded method's replacement: given the inner datapath's bound method, the defective one.
Around: TypeAlias = Callable[[Callable[..., Any]], Callable[..., Any]]
Runner: TypeAlias = Callable[[Sequence[DpifOp]], list[DpifOpResult]]


def ident(flow: DpifFlow) -> bytes:
    """What identifies a reply's flow: its UFID bytes when it has one, else its key."""
    if flow.ufid_present:
        if flow.ufid_bytes:
            return flow.ufid_bytes
        if flow.ufid is not None:
            return flow.ufid.to_wire()
    return b"k" + (flow.key or b"")


def do_put(dpif: Dpif, op: PutOp) -> FlowStats:
    """``op`` on ``dpif``: the call a put hook makes when it lets the put through."""
    return dpif.flow_put(op.key, op.mask, op.actions, ufid=op.ufid, flags=op.flags)


def do_get(dpif: Dpif, op: GetOp) -> DpifFlow:
    return dpif.flow_get(ufid=op.ufid, key=op.key, terse=op.terse)


def do_del(dpif: Dpif, op: DelOp) -> FlowStats:
    return dpif.flow_del(ufid=op.ufid, key=op.key, terse=op.terse)


@dataclass(frozen=True, slots=True)
class Hooks:
    """The places one defect can sit; every hook left ``None`` is the inner datapath's behaviour.

    ``put``/``get``/``delete`` replace the call to ``inner`` (with the
    caller's arguments as a :class:`PutOp`/:class:`GetOp`/:class:`DelOp`),
    ``dump`` the source of a dump's flows, ``flush`` the flush, ``reply``
    every returned flow and ``stats`` the statistics of every reply by kind
    with the flow's identity. ``batches`` cuts the wrapper's own dump into
    batches, ``operate`` wraps the default batch runner (which goes through
    the wrapper's methods), ``features`` maps the inner features. ``forget``
    hears a flow leave the table (``None``: all of them); a mutant with it
    gets the identity of the flow a del removes (one extra get first).
    ``around`` replaces any other method by name (``execute``,
    ``recv_upcalls``, ...), given the inner datapath's.
    """

    put: Callable[[Dpif, PutOp], FlowStats] | None = None
    get: Callable[[Dpif, GetOp], DpifFlow] | None = None
    delete: Callable[[Dpif, DelOp], FlowStats] | None = None
    dump: Callable[[Dpif, bool], Iterator[DpifFlow]] | None = None
    flush: Callable[[Dpif], None] | None = None
    reply: Callable[[Kind, DpifFlow], DpifFlow] | None = None
    stats: Callable[[Kind, FlowStats, bytes], FlowStats] | None = None
    batches: Callable[[list[DpifFlow], int, bool], list[list[DpifFlow]]] | None = None
    operate: Callable[[Runner, Sequence[DpifOp]], list[DpifOpResult]] | None = None
    features: Callable[[DpifFeatures], DpifFeatures] | None = None
    forget: Callable[[bytes | None], None] | None = None
    around: Mapping[str, Around] = field(default_factory=dict)


_NO_HOOKS = Hooks()


class MutantDpif(Dpif):
    """``inner`` with one defect (``hooks``); without hooks it is ``inner`` unchanged.

    The flow methods below apply the hooks. Every other method of
    :class:`Dpif`, and any optional extra of ``inner`` (``hash_bytes128``,
    ``clock_ms``, ...), is forwarded to ``inner`` (through ``hooks.around``
    when it names it), so a method added to ``Dpif`` needs nothing here.
    Batches (``operate``, ``flow_dump_batches``) run through this wrapper's
    flow methods, so a defect in a method shows in batches too, as one code
    path in a real datapath would.
    """

    def __init__(self, inner: Dpif, hooks: Hooks = _NO_HOOKS) -> None:
        self.inner = inner
        self.hooks = hooks

    def _forwarded(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        change = self.hooks.around.get(name)
        return attr if change is None else change(attr)

    def __getattr__(self, name: str) -> object:
        # Only reached for what Dpif does not declare: a backend's optional extras.
        if name in ("inner", "hooks"):
            raise AttributeError(name)
        return self._forwarded(name)

    # --- the flow methods, through the hooks --------------------------------

    def _stats(self, kind: Kind, stats: FlowStats, flow_ident: bytes) -> FlowStats:
        return stats if self.hooks.stats is None else self.hooks.stats(kind, stats, flow_ident)

    def _reply(self, kind: Kind, flow: DpifFlow) -> DpifFlow:
        if self.hooks.reply is not None:
            flow = self.hooks.reply(kind, flow)
        s = self._stats(kind, flow.stats, ident(flow))
        return flow if s is flow.stats else replace(flow, stats=s)

    @property
    def features(self) -> DpifFeatures:
        f = self.inner.features
        return f if self.hooks.features is None else self.hooks.features(f)

    def flow_put(self, key: bytes, mask: bytes | None, actions: bytes, **how: Any) -> FlowStats:
        # ``how`` is Dpif.flow_put's keywords (ufid, flags), which PutOp declares with the same defaults.
        op = PutOp(key, mask, actions, **how)
        return self._stats("put", (self.hooks.put or do_put)(self.inner, op), b"")

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        flow = (self.hooks.get or do_get)(self.inner, GetOp(ufid, key, terse))
        return self._reply("get-terse" if terse else "get", flow)

    def _del_ident(self, ufid: UfidArg | None, key: bytes | None) -> bytes:
        if self.hooks.forget is None or (ufid is None and key is None):
            return b""
        try:
            return ident(self.inner.flow_get(ufid=ufid, key=key))
        except DpifError:
            return b""

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        flow_ident = self._del_ident(ufid, key)
        stats = (self.hooks.delete or do_del)(self.inner, DelOp(ufid, key, terse))
        out = self._stats("del-terse" if terse else "del", stats, flow_ident)
        if self.hooks.forget is not None:
            self.hooks.forget(flow_ident if flow_ident else None if ufid is None and key is None else b"")
        return out

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        kind: Kind = "dump-terse" if terse else "dump"
        source = self.inner.flow_dump(terse=terse) if self.hooks.dump is None else self.hooks.dump(self.inner, terse)
        for f in source:
            yield self._reply(kind, f)

    def flow_dump_batches(self, *, terse: bool, max_flows: int = 50) -> Iterator[Sequence[DpifFlow]]:
        if self.hooks.batches is None:
            return super().flow_dump_batches(terse=terse, max_flows=max_flows)
        return iter(self.hooks.batches(list(self.flow_dump(terse=terse)), check_max_flows(max_flows), terse))

    def flow_flush(self) -> None:
        if self.hooks.flush is None:
            self.inner.flow_flush()
        else:
            self.hooks.flush(self.inner)
        if self.hooks.forget is not None:
            self.hooks.forget(None)

    def operate(self, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
        run = super().operate
        return run(ops) if self.hooks.operate is None else self.hooks.operate(run, ops)


def _forwarder(name: str) -> Callable[..., Any]:
    def forward(self: MutantDpif, *args: Any, **kwargs: Any) -> Any:
        return self._forwarded(name)(*args, **kwargs)

    forward.__name__ = forward.__qualname__ = name
    return forward


def _forwarded_property(name: str) -> property:
    def get(self: MutantDpif) -> Any:
        return self._forwarded(name)

    return property(get)


# Every other public Dpif method and property goes to ``inner``: the wrapper restates no signature, and a
# capability added to Dpif later (raising DpifNotSupported by default) reaches the inner datapath's.
# Class constants, static and class methods are Dpif's own and stay inherited.
for _name, _attr in vars(Dpif).items():
    if _name.startswith("_") or _name in vars(MutantDpif):
        continue
    if isinstance(_attr, property):
        setattr(MutantDpif, _name, _forwarded_property(_name))
    elif inspect.isfunction(_attr):
        setattr(MutantDpif, _name, _forwarder(_name))
abc.update_abstractmethods(MutantDpif)
