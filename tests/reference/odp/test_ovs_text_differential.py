"""Bulk differential of ``reference.odp`` flow text against a real ovs-vswitchd (conformance.ovs_text).

Generated flows (every key attribute dpif-netdev stores, every mask shape)
go in with ``dpctl/add-flows`` in batches and come back with
``dpctl/dump-flows`` and ``dpctl/dump-flows -m --no-names``; every line must
reprint identically through ``parse_flow``/``format_key`` and agree, per
attribute, with what was put (in the form the daemon stores, see
``conformance.ovs_text.stored_form``). 100 batches of 60 draws: about 5,500
flows a run. The recorded corpus (fixtures/ovs-3.1.0-dpctl-text.json) is
replayed without a daemon in test_ovs_text_corpus.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from conformance import ovs_text
from conformance.backends._ovsd import PrivateOvs
from conformance.strategies import datapath_keys_with_masks
from reference.odp.fitness import KeyFitness, key_fitness
from tests._ovs import private_ovs

BATCH = 60


@pytest.fixture(scope="module")
def ovs() -> Iterator[PrivateOvs]:
    yield from private_ovs()


@pytest.fixture(scope="module")
def flows_file() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="ufidcert-ovs-text-") as tmp:
        yield str(Path(tmp) / "flows.txt")


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(st.lists(datapath_keys_with_masks(), min_size=BATCH, max_size=BATCH))
def test_dumped_flows_agree_with_what_was_put(
    ovs: PrivateOvs, flows_file: str, drawn: list[tuple[bytes, bytes]]
) -> None:
    ready = (ovs_text.dpif_ready(p, i + 1) for i, p in enumerate(drawn))
    pairs = [p for p in ready if key_fitness(p[0]) == KeyFitness.PERFECT]
    ovs.appctl("dpctl/del-flows", ovs.dp)
    try:
        entries = ovs_text.run(ovs.appctl, ovs.dp, pairs, flows_file)
    finally:
        ovs.appctl("dpctl/del-flows", ovs.dp)
    agreement = ovs_text.tally(pairs, entries)
    note(repr(agreement))
    assert agreement.mismatches == ()
    # dpif-netdev refuses about 1 % of these (see docs/keys.md); far fewer
    # stored flows means the run compared nothing.
    assert agreement.stored >= len(pairs) * 9 // 10
