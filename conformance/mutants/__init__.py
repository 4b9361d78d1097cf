"""The mutant catalogue: realistic one-defect datapaths that measure the suite (``ufidcert selftest``).

A mutant wraps any :class:`~reference.dpif.Dpif` and corrupts exactly one
thing a real provider can get wrong: one field, flag or rule of one
``Dpif`` method in one kind of reply. ``ufidcert selftest`` certifies every
mutant, on every base configuration it applies to (the reference in kernel
and netdev semantics and in legacy mode), and counts it killed when the
verdict is FAIL (a MUST requirement failed). Each entry says what
ovs-vswitchd relies on that the defect breaks, with the upstream code, so
that a surviving mutant is a gap in the suite and never a matter of taste.

The catalogue is built per method and per field: identity (UFID bytes,
word and byte order per reply kind, lengths, partial comparisons),
statistics (counts, bytes, units and clock of ``used``, freshness per reply
kind, MODIFY/ZERO_STATS, tcp_flags), dumps (completeness, batch
boundaries, changes during a dump, terse vs full), terse flags one by one,
batches, flush, masks, upcalls, the probe, legacy behaviour and execute.
:data:`NOT_MUTANTS` lists the defects deliberately left out, with the
reason, and :data:`LEVELS` the review of every requirement's level.

The package: :mod:`._wrapper` is the one wrapper (:class:`MutantDpif`, its
:class:`Hooks`), :mod:`._mutant` what a row is, and each topic module a
table of rows, each a defect built from a small hook function:
:mod:`._identity` (identity, lookups, deletes, flush), :mod:`._put` (put
rules, masks), :mod:`._probe` (probe, legacy), :mod:`._stats`,
:mod:`._dumps` (dumps, batched dumps, terse, operate) and :mod:`._packets`
(upcalls, execute);
:mod:`._review` holds :data:`NOT_MUTANTS` and :data:`LEVELS`.

Certify one by hand: ``ufidcert certify --backend python:conformance.mutants:mutant
--option mutant=NAME [--option base=reference-legacy] [--option semantics=netdev]``.
"""

from __future__ import annotations

from conformance.errors import UsageError
from conformance.mutants._dumps import DUMPS, OPERATE
from conformance.mutants._identity import FLUSH, IDENTITY
from conformance.mutants._mutant import BASES, Base, Mutant
from conformance.mutants._packets import EXECUTE, UPCALLS
from conformance.mutants._probe import PROBE_AND_LEGACY
from conformance.mutants._put import MASKS, PUT
from conformance.mutants._review import LEVELS, NOT_MUTANTS
from conformance.mutants._stats import STATS, ZERO_DELETES
from conformance.mutants._wrapper import Hooks, MutantDpif
from conformance.registry import open_backend
from reference.dpif import Dpif

__all__ = [
    "BASES",
    "CATALOGUE",
    "LEVELS",
    "NOT_MUTANTS",
    "Base",
    "Hooks",
    "Mutant",
    "MutantDpif",
    "by_name",
    "mutant",
]

CATALOGUE: tuple[Mutant, ...] = (
    *IDENTITY,
    *PUT,
    *STATS,
    *DUMPS,
    *ZERO_DELETES,
    *OPERATE,
    *FLUSH,
    *MASKS,
    *UPCALLS,
    *PROBE_AND_LEGACY,
    *EXECUTE,
)
_BY_NAME = {m.name: m for m in CATALOGUE}
if len(_BY_NAME) != len(CATALOGUE):  # pragma: no cover - a catalogue bug, caught by the tests
    raise RuntimeError("duplicate mutant names")


def by_name(name: str) -> Mutant:
    """The mutant called ``name``; :class:`UsageError` naming it when unknown."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown mutant {name!r} (see ufidcert selftest --list)") from None


def mutant(**options: str) -> Dpif:
    """Backend factory: ``mutant=NAME`` around ``base=BACKEND`` (default ``reference``).

    Other options go to the base backend.
    """
    name = options.pop("mutant", None)
    if not name:
        raise UsageError("option mutant=NAME is required (see ufidcert selftest --list)")
    m = by_name(name)
    base = options.pop("base", "reference")
    return m.build(open_backend(base, options))
