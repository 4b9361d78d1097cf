"""The mutant catalogue (conformance/mutants/): well-formed, one defect each, buildable on its bases."""

from __future__ import annotations

import inspect
import re
from types import SimpleNamespace
from typing import Any, cast

import pytest

from conformance.errors import UsageError
from conformance.mutants import BASES, CATALOGUE, LEVELS, NOT_MUTANTS, MutantDpif, by_name, mutant
from conformance.requirements import CATALOGUE as REQUIREMENTS
from conformance.suite._flows import eth_frame, flow_spec
from reference.datapath import ReferenceDatapath
from reference.dpif import Dpif, DpifFlow, PutFlags

# An upstream file the harm is justified by (OVS lib/ ofproto/ or Linux net/openvswitch/).
_UPSTREAM = re.compile(r"\b(lib|ofproto|net/openvswitch)/[\w-]+\.[ch]\b")


def test_catalogue_is_large_and_names_are_unique() -> None:
    names = [m.name for m in CATALOGUE]
    assert len(names) >= 60
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in names)


@pytest.mark.parametrize("m", CATALOGUE, ids=lambda m: m.name)
def test_every_mutant_says_why_ovs_cares(m: object) -> None:
    mut = by_name(m.name)  # type: ignore[attr-defined]
    assert mut.bases and set(mut.bases) <= set(BASES), mut.bases
    assert mut.defect and mut.area and mut.method
    assert _UPSTREAM.search(mut.harm), f"{mut.name}: no upstream file cited in {mut.harm!r}"


@pytest.mark.parametrize("m", CATALOGUE, ids=lambda m: m.name)
def test_every_mutant_names_the_requirements_that_killed_it(m: object) -> None:
    killed_by = m.killed_by  # type: ignore[attr-defined]
    assert killed_by and set(killed_by) <= {r.id for r in REQUIREMENTS}, killed_by


def test_every_area_of_the_issue_is_covered() -> None:
    areas = {m.area for m in CATALOGUE}
    wanted = {"identity", "stats", "dump", "terse", "batch", "flush", "mask", "upcall", "probe", "legacy", "put"}
    assert wanted <= areas, wanted - areas


def test_levels_review_covers_every_requirement_with_its_level() -> None:
    assert set(LEVELS) == {r.id for r in REQUIREMENTS}
    for req in REQUIREMENTS:
        assert LEVELS[req.id].startswith(req.level.value + " ") or LEVELS[req.id].startswith(req.level.value + ":"), (
            f"{req.id} is {req.level.value}, the review says {LEVELS[req.id][:30]!r}"
        )


def test_not_mutants_give_reasons() -> None:
    assert NOT_MUTANTS and all(what and len(why) > 40 for what, why in NOT_MUTANTS)


@pytest.mark.parametrize(
    ("m", "base"),
    [(m, b) for m in CATALOGUE for b in m.bases],
    ids=[f"{m.name}@{b}" for m in CATALOGUE for b in m.bases],
)
def test_every_mutant_opens_on_its_bases(m: object, base: str) -> None:
    b = BASES[base]
    dpif = mutant(mutant=m.name, base=b.backend, **dict(b.options))  # type: ignore[attr-defined]
    with dpif:
        assert isinstance(dpif, Dpif)
        dpif.features  # noqa: B018 - the property must answer


def test_factory_rejects_unknown_and_missing_names() -> None:
    with pytest.raises(UsageError, match="no-such"):
        mutant(mutant="no-such")
    with pytest.raises(UsageError, match="mutant=NAME"):
        mutant()


def _traffic(dpif: Dpif) -> list[DpifFlow]:
    """A short scenario touching put, traffic, get, dump, modify and del; what the caller sees."""
    port = dpif.port_add("p")
    seen: list[DpifFlow] = []
    for n in (1, 2):
        spec = flow_spec(n, port=port)
        dpif.flow_put(spec.key, spec.mask, spec.actions, ufid=spec.ufid)
        dpif.inject(port, eth_frame(n, size=64 + n))
        seen.append(dpif.flow_get(ufid=spec.ufid))
    seen += sorted(dpif.flow_dump(), key=repr)
    return seen


def _comparable(flows: list[DpifFlow]) -> list[object]:
    # used depends on when the test ran; only whether it is set is compared.
    return [
        (f.ufid, f.key, f.mask, f.actions, f.stats.n_packets, f.stats.n_bytes, bool(f.stats.used_ms)) for f in flows
    ]


def test_the_wrapper_alone_changes_nothing() -> None:
    # MutantDpif without an override is the base datapath: each mutant's difference is its one override.
    assert _comparable(_traffic(MutantDpif(ReferenceDatapath()))) == _comparable(_traffic(ReferenceDatapath()))


# The methods the wrapper runs through a mutant's hooks; every other public Dpif attribute is forwarded.
_HOOKED = {"flow_put", "flow_get", "flow_del", "flow_dump", "flow_dump_batches", "flow_flush", "operate", "features"}
_FORWARDED = sorted(
    n
    for n, v in vars(Dpif).items()
    if not n.startswith("_") and n not in _HOOKED and (isinstance(v, property) or inspect.isfunction(v))
)


@pytest.mark.parametrize("name", _FORWARDED)
def test_the_wrapper_forwards_every_other_dpif_attribute(name: str) -> None:
    # A recording stand-in: whatever Dpif declares (a capability added later too) must reach ``inner`` unchanged.
    if isinstance(vars(Dpif)[name], property):
        inner = SimpleNamespace(**{name: ("value of", name)})
        assert getattr(MutantDpif(cast(Dpif, inner)), name) == ("value of", name)
        return

    def record(*args: Any, **kwargs: Any) -> object:
        return (name, args, kwargs)

    inner = SimpleNamespace(**{name: record})
    assert getattr(MutantDpif(cast(Dpif, inner)), name)(1, x=2) == (name, (1,), {"x": 2})


def test_the_wrapper_forwards_optional_extras_and_only_those_the_inner_has() -> None:
    inner = SimpleNamespace(hash_bytes128=lambda data, basis: (data, basis))
    wrapped = MutantDpif(cast(Dpif, inner))
    assert cast(Any, wrapped).hash_bytes128(b"k", 7) == (b"k", 7)
    assert getattr(wrapped, "clock_ms", None) is None


@pytest.mark.parametrize(
    "name", ["stats-packets-doubled", "ufid-words-swapped-in-get", "dump-skips-last-flow", "put-modify-returns-zero"]
)
def test_a_mutant_differs_from_its_base(name: str) -> None:
    def scenario(dpif: Dpif) -> list[object]:
        out = _comparable(_traffic(dpif))
        spec = flow_spec(1, port=1)
        out.append(dpif.flow_put(spec.key, spec.mask, spec.actions, ufid=spec.ufid, flags=PutFlags.MODIFY))
        return out

    assert scenario(by_name(name).build(ReferenceDatapath())) != scenario(ReferenceDatapath())
