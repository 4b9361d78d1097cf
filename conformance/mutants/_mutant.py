"""What a catalogue row is: a :class:`Mutant`, the :class:`Base` configurations it runs on, how it is built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conformance.mutants._wrapper import Hooks, MutantDpif
from reference.dpif import Dpif

__all__ = ["BASES", "IDLE", "K", "KL", "KN", "KNL", "PUSH", "REVAL", "UKEY", "Base", "Hooked", "Mutant", "fixed"]


@dataclass(frozen=True, slots=True)
class Base:
    """A configuration mutants run on: a backend name and its options."""

    name: str  # short label used in the kill matrix
    backend: str
    options: tuple[tuple[str, str], ...] = ()


BASES: dict[str, Base] = {
    "kernel": Base("kernel", "reference"),
    "netdev": Base("netdev", "reference", (("semantics", "netdev"),)),
    "legacy": Base("legacy", "reference-legacy"),
}
KN = ("kernel", "netdev")
KNL = ("kernel", "netdev", "legacy")
K = ("kernel",)
KL = ("kernel", "legacy")


@dataclass(frozen=True, slots=True)
class Mutant:
    """One defect: where it is, what it does, why ovs-vswitchd cares, and how to build it.

    ``killed_by`` is what the suite measured: the requirement(s) of the test
    that failed first on its bases in ``ufidcert selftest --profile
    standard`` (docs/suite-quality.md has every requirement that fails it).
    """

    name: str
    area: str
    method: str
    defect: str
    harm: str
    build: Callable[[Dpif], Dpif]
    bases: tuple[str, ...] = KNL
    killed_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hooked:
    """A mutant's ``build``: the wrapper around ``inner`` with hooks from ``make``.

    ``make`` runs once per datapath, so a mutant that remembers something
    per flow starts empty on each.
    """

    make: Callable[[], Hooks]

    def __call__(self, inner: Dpif) -> Dpif:
        return MutantDpif(inner, self.make())


def fixed(hooks: Hooks) -> Hooked:
    """The build of a mutant without state: the same hooks on every datapath."""
    return Hooked(lambda: hooks)


# The ovs-vswitchd code most defects break, cited by many rows and by the review of levels.
REVAL = "ofproto/ofproto-dpif-upcall.c revalidate()"
UKEY = "ofproto/ofproto-dpif-upcall.c ukey_lookup()/ukey_acquire() (ukeys hashed by the UFID's 128 bits)"
PUSH = "ofproto/ofproto-dpif-upcall.c revalidate_ukey() (pushes stats minus ukey->stats)"
IDLE = "ofproto/ofproto-dpif-upcall.c revalidate() (idle test: used < now - max_idle, now = time_msec())"
