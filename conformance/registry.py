"""Finding and opening dpif backends by name.

A backend is a factory ``FACTORY(**options: str) -> Dpif``. It is named
either through the entry-point group ``ufidcert.backends`` (a package
declares ``[project.entry-points."ufidcert.backends"] NAME =
"module:factory"``) or directly as ``python:MODULE:FACTORY``.

A factory may carry an ``unavailable_reason`` attribute: a callable with no
arguments returning ``None`` when the backend can run here, or a one-line
reason (missing daemon, no privileges, no kernel module) when it cannot.
A factory may also raise :class:`~conformance.errors.BackendUnavailable`
itself. :func:`list_backends` reports both without opening anything.

A factory may carry an ``open_timeout_s`` attribute (seconds) when opening
takes longer than ten per-operation timeouts (a download, a guest boot);
the supervisor then waits that long for the factory.

A factory may carry a ``validate_options`` attribute: a callable taking the
same keyword options that raises :class:`~conformance.errors.UsageError`
for a value it cannot use. :func:`check_options` calls it (and checks the
option names against the factory's signature) before anything runs, so a
bad value is a usage error, not a failed certification.

A factory may carry a ``single_worker`` attribute (a one-line reason, e.g.
"one kernel datapath per VM") when it cannot open one datapath per
pytest-xdist worker; the certification then runs in one process.

:class:`BackendFactory` is the contract; :func:`declare_factory` attaches
the metadata and :func:`factory_metadata` is the one place that reads it.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, TypeVar, cast

from conformance.errors import BackendUnavailable, UsageError
from reference.dpif import Dpif

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendFactory",
    "BackendInfo",
    "FactoryMetadata",
    "check_options",
    "declare_factory",
    "factory_metadata",
    "list_backends",
    "open_backend",
    "resolve_factory",
]

ENTRY_POINT_GROUP = "ufidcert.backends"
_PYTHON_PREFIX = "python:"


class BackendFactory(Protocol):
    """A backend factory: string options in, an open :class:`~reference.dpif.Dpif` out."""

    def __call__(self, **options: str) -> Dpif: ...


_F = TypeVar("_F", bound=Callable[..., object])


@dataclass(frozen=True, slots=True)
class FactoryMetadata:
    """What a factory declares about itself (every field optional; see the module docstring)."""

    unavailable_reason: Callable[[], object] | None = None  # None or a one-line reason it cannot run here
    single_worker: str | None = None  # why it cannot run one datapath per xdist worker
    open_timeout_s: float | None = None  # how long opening may take, when longer than 10 operation timeouts
    validate_options: Callable[..., object] | None = None  # raises UsageError for an option value it cannot use


def declare_factory(
    *,
    unavailable_reason: Callable[[], object] | None = None,
    single_worker: str | None = None,
    open_timeout_s: float | None = None,
    validate_options: Callable[..., object] | None = None,
) -> Callable[[_F], _F]:
    """Attach metadata to a factory (as the attributes :func:`factory_metadata` reads)."""
    values = {
        "unavailable_reason": unavailable_reason,
        "single_worker": single_worker,
        "open_timeout_s": open_timeout_s,
        "validate_options": validate_options,
    }

    def mark(factory: _F) -> _F:
        for name, value in values.items():
            if value is not None:
                setattr(factory, name, value)
        return factory

    return mark


def factory_metadata(factory: object) -> FactoryMetadata:
    """The metadata ``factory`` declares; values of the wrong kind count as not declared."""
    reason = getattr(factory, "unavailable_reason", None)
    single = getattr(factory, "single_worker", None)
    timeout = getattr(factory, "open_timeout_s", None)
    validate = getattr(factory, "validate_options", None)
    valid = isinstance(timeout, int | float) and not isinstance(timeout, bool) and math.isfinite(timeout)
    return FactoryMetadata(
        # A non-callable value is the reason itself (kept for factories that set a plain string).
        unavailable_reason=None if reason is None else reason if callable(reason) else (lambda: reason),
        single_worker=(single if isinstance(single, str) else "single_worker") if single else None,
        open_timeout_s=float(timeout) if valid and timeout is not None else None,
        validate_options=validate if callable(validate) else None,
    )


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """One registered backend: name, where it comes from, whether it can run here and why not."""

    name: str
    target: str
    available: bool
    reason: str
    description: str = ""


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""


def _availability(factory: BackendFactory) -> tuple[bool, str]:
    check = factory_metadata(factory).unavailable_reason
    if check is None:
        return True, "available"
    try:
        reason = check()
    except Exception as exc:  # a broken check must not hide the other backends
        return False, _first_line(f"availability check failed: {exc}") or "availability check failed"
    if reason:
        return False, _first_line(str(reason))
    return True, "available"


def _load_python(spec: str) -> BackendFactory:
    rest = spec[len(_PYTHON_PREFIX) :]
    module_name, sep, attr = rest.rpartition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"backend {spec!r}: expected python:MODULE:FACTORY")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(f"backend {spec!r}: cannot import {module_name}: {exc}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise UsageError(f"backend {spec!r}: {module_name} has no callable {attr!r}")
    return cast("BackendFactory", factory)


def resolve_factory(spec: str) -> BackendFactory:
    """The factory named by ``spec`` (an entry-point name or ``python:MODULE:FACTORY``)."""
    if not isinstance(spec, str) or not spec:
        raise UsageError("backend name is empty")
    if spec.startswith(_PYTHON_PREFIX):
        return _load_python(spec)
    eps = _entry_points()
    ep = eps.get(spec)
    if ep is None:
        known = ", ".join(sorted(eps)) or "none"
        raise UsageError(f"unknown backend {spec!r} (registered: {known}; or use python:MODULE:FACTORY)")
    try:
        factory = ep.load()
    except ImportError as exc:
        raise BackendUnavailable(f"backend {spec!r}: cannot import {ep.value}: {exc}") from None
    if not callable(factory):
        raise UsageError(f"backend {spec!r}: entry point {ep.value} is not callable")
    # Only known to be callable: open_backend checks that it returns a Dpif.
    return cast("BackendFactory", factory)


def _bind(spec: str, factory: BackendFactory, opts: Mapping[str, str]) -> None:
    # Only a signature mismatch is "rejected options"; a TypeError raised inside the
    # factory is the factory's own error and keeps its type and message.
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return
    try:
        sig.bind(**opts)
    except TypeError as exc:
        raise UsageError(f"backend {spec!r} rejected options {sorted(opts)}: {exc}") from None


def check_options(spec: str, options: Mapping[str, str] | None = None) -> None:
    """Raise :class:`UsageError` when ``spec`` cannot take ``options`` (names or values); opens nothing."""
    opts = dict(options or {})
    for k, v in opts.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise UsageError(f"backend options must be strings, got {k!r}={v!r}")
    factory = resolve_factory(spec)
    _bind(spec, factory, opts)
    validate = factory_metadata(factory).validate_options
    if validate is not None:
        validate(**opts)


def open_backend(spec: str, options: Mapping[str, str] | None = None) -> Dpif:
    """Open the backend ``spec`` with string ``options``; the caller closes it (or uses ``with``).

    Raises :class:`UsageError` for an unknown name or bad options and
    :class:`BackendUnavailable` (one-line reason) when it cannot run here.
    """
    opts = dict(options or {})
    for k, v in opts.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise UsageError(f"backend options must be strings, got {k!r}={v!r}")
    factory = resolve_factory(spec)
    ok, reason = _availability(factory)
    if not ok:
        raise BackendUnavailable(f"backend {spec!r} is not available: {reason}")
    _bind(spec, factory, opts)
    dpif = factory(**opts)
    if not isinstance(dpif, Dpif):
        raise UsageError(f"backend {spec!r}: factory returned {type(dpif).__name__}, not a reference.dpif.Dpif")
    return dpif


def list_backends() -> list[BackendInfo]:
    """Every backend registered under ``ufidcert.backends``, sorted by name, with availability."""
    out: list[BackendInfo] = []
    for name, ep in sorted(_entry_points().items()):
        try:
            factory = ep.load()
        except Exception as exc:
            out.append(BackendInfo(name, ep.value, False, _first_line(f"cannot import: {exc}") or "cannot import"))
            continue
        if not callable(factory):
            out.append(BackendInfo(name, ep.value, False, "entry point is not callable"))
            continue
        ok, reason = _availability(factory)
        out.append(BackendInfo(name, ep.value, ok, reason, _first_line(getattr(factory, "__doc__", None))))
    return out
