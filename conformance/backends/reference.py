"""Factories for the in-process reference datapath, registered as ``reference`` and ``reference-legacy``.

Options (strings, as given on the command line with ``--option k=v``):
``semantics`` (``kernel`` or ``netdev``), ``max_flows`` (positive integer),
``ufid_secret`` (integer, decimal or ``0x`` hex). Both factories check their
options with ``validate_options`` before anything runs.
"""

from __future__ import annotations

from typing import Any

from conformance.errors import UsageError
from conformance.registry import declare_factory
from reference.datapath import ReferenceDatapath

__all__ = ["reference", "reference_legacy"]

_OPTIONS = ("semantics", "max_flows", "ufid_secret")


def _int_option(name: str, value: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        raise UsageError(f"option {name}={value!r}: expected an integer") from None


def _parse(options: dict[str, str], *, ufid_support: bool) -> dict[str, Any]:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)}; the reference takes {', '.join(_OPTIONS)}")
    semantics = options.get("semantics", "kernel")
    if semantics not in ("kernel", "netdev"):
        raise UsageError(f"option semantics={semantics!r}: expected kernel or netdev")
    if semantics == "netdev" and not ufid_support:
        raise UsageError("reference-legacy models an old kernel; semantics=netdev is not available")
    max_flows = _int_option("max_flows", options["max_flows"]) if "max_flows" in options else None
    if max_flows is not None and max_flows <= 0:
        raise UsageError(f"option max_flows={options['max_flows']!r}: expected a positive integer")
    secret = _int_option("ufid_secret", options["ufid_secret"]) if "ufid_secret" in options else None
    if secret is not None and not 0 <= secret < 1 << 32:
        raise UsageError(f"option ufid_secret={options['ufid_secret']!r}: expected 0 .. 0xffffffff")
    return {
        "semantics": "netdev" if semantics == "netdev" else "kernel",
        "ufid_support": ufid_support,
        "max_flows": max_flows,
        "ufid_secret": secret,
    }


def reference(**options: str) -> ReferenceDatapath:
    """The reference datapath with UFID support (kernel semantics; option semantics=netdev)."""
    return ReferenceDatapath(**_parse(options, ufid_support=True))


def reference_legacy(**options: str) -> ReferenceDatapath:
    """The reference datapath as a kernel from before the UFID series (UFIDs ignored)."""
    return ReferenceDatapath(**_parse(options, ufid_support=False))


def _validate(ufid_support: bool) -> Any:
    def validate_options(**options: str) -> None:
        _parse(options, ufid_support=ufid_support)

    return validate_options


declare_factory(validate_options=_validate(True))(reference)
declare_factory(validate_options=_validate(False))(reference_legacy)
