"""The supervised backend process: same answers as in-process, errors keep their type, nothing left behind."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from conformance._backend_host import DUMP_CHUNK
from conformance.errors import BackendUnavailable, UsageError
from conformance.guarded import BackendDied
from conformance.suite._flows import flow_spec
from conformance.supervisor import SupervisedDpif, describe_exit
from reference.datapath import ReferenceDatapath
from reference.dpif import DpifExists, DpifNotFound, PutOp, key_hasher


@pytest.fixture
def remote() -> Iterator[SupervisedDpif]:
    d = SupervisedDpif("reference", {"ufid_secret": "7"}, timeout_s=20)
    yield d
    d.close()


def test_answers_like_the_backend_in_process(remote: SupervisedDpif) -> None:
    local = ReferenceDatapath(ufid_secret=7)
    for dp in (remote, local):
        specs = [flow_spec(i) for i in range(DUMP_CHUNK + 3)]  # more than one chunk of a dump
        results = dp.operate([PutOp(s.key, s.mask, s.actions, ufid=s.ufid) for s in specs])
        assert all(r.ok for r in results)
    assert remote.features == local.features
    assert sorted(f.ufid for f in remote.flow_dump() if f.ufid) == sorted(f.ufid for f in local.flow_dump() if f.ufid)
    spec = flow_spec(1)
    assert remote.flow_get(ufid=spec.ufid) == local.flow_get(ufid=spec.ufid)
    with pytest.raises(DpifExists) as exc:
        remote.flow_put(spec.key, spec.mask, spec.actions, ufid=spec.ufid)
    assert exc.value.errno == 17
    assert remote.flow_del(ufid=spec.ufid) == local.flow_del(ufid=spec.ufid)
    with pytest.raises(DpifNotFound):
        remote.flow_get(ufid=spec.ufid)


def test_extras_are_forwarded_and_absent_ones_are_absent() -> None:
    d = SupervisedDpif("python:tests.conformance._broken:right_hash", {}, timeout_s=20)
    try:
        hasher = key_hasher(d)
        assert hasher is not None and len(hasher.hash_bytes128(b"abc", 0)) == 16
    finally:
        d.close()
    r = SupervisedDpif("reference", {}, timeout_s=20)
    try:
        assert not hasattr(r, "hash_bytes128")
    finally:
        r.close()


def test_factory_errors_keep_their_type() -> None:
    with pytest.raises(UsageError, match="max_flows"):
        SupervisedDpif("reference", {"max_flows": "-3"}, timeout_s=20)
    with pytest.raises(BackendUnavailable, match="cannot import"):
        SupervisedDpif("python:no_such_module_xyz:make", {}, timeout_s=20)


def test_close_ends_the_host_and_leaves_nothing(remote: SupervisedDpif) -> None:
    remote.close()
    assert remote._proc.returncode == 0  # an orderly exit, and reaped
    assert not os.path.exists(f"/proc/{remote.pid}")
    assert remote.leftovers == [] and remote.close_error is None
    with pytest.raises(BackendDied, match="closed before flow_flush"):
        remote.flow_flush()


@pytest.mark.parametrize(
    ("code", "text"), [(0, "exited with status 0"), (3, "exited with status 3"), (-11, "signal SIGSEGV (11)")]
)
def test_exit_statuses_are_described(code: int, text: str) -> None:
    assert text in describe_exit(code)


def test_a_dump_advances_the_backends_iterator_as_it_is_consumed() -> None:
    # A delete between two flows of a dump reaches the backend mid-iteration, as in-process
    # (the revalidator's pattern, UFID-DUMP-008): a backend that reads each flow when its
    # iteration reaches it then no longer returns the deleted one, supervised or not.
    from tests.conformance._hostile import lazy_dump

    specs = [flow_spec(i) for i in range(1, 9)]
    remote = SupervisedDpif("python:tests.conformance._hostile:lazy_dump", {}, timeout_s=20)
    got: dict[str, list[object]] = {}
    try:
        for name, dp in (("supervised", remote), ("in-process", lazy_dump())):
            for s in specs:
                dp.flow_put(s.key, s.mask, s.actions, ufid=s.ufid)
            seen: list[object] = []
            for f in dp.flow_dump():
                seen.append(f.ufid)
                if len(seen) == 1:
                    dp.flow_del(ufid=specs[-1].ufid)
            got[name] = seen
    finally:
        remote.close()
    assert len(got["in-process"]) == len(specs) - 1
    assert got["supervised"] == got["in-process"]


def test_the_backends_own_batches_are_returned() -> None:
    d = SupervisedDpif("reference", {}, timeout_s=20)
    try:
        for i in range(7):
            s = flow_spec(i)
            d.flow_put(s.key, s.mask, s.actions, ufid=s.ufid)
        batches = list(d.flow_dump_batches(terse=True, max_flows=3))
        assert [len(b) for b in batches] == [3, 3, 1]
        assert type(batches[0]).__name__ == "TerseBatch"  # the reference's column batch, not a list of ours
    finally:
        d.close()
