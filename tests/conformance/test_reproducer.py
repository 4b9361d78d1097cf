"""The dpctl reproducer carries every key bit the Python replay carries, or says it cannot."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings

from conformance.strategies import datapath_keys_with_masks, ufids
from conformance.suite._reproducer import Step, render_dpctl
from reference.odp import canonical_key, parse_flow
from reference.ufid import Ufid


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(datapath_keys_with_masks(), ufids())
def test_dpctl_put_reproduces_the_key_or_says_it_cannot(km: tuple[bytes, bytes], ufid: Ufid) -> None:
    key, mask = km
    text = render_dpctl([Step("put", key=key, mask=mask, actions=b"", ufid=ufid)])
    note = [ln for ln in text.splitlines() if ln.startswith("# NOTE: step 0")]
    (cmd,) = [ln for ln in text.splitlines() if "dpctl/add-flow" in ln]
    flow = re.search(r"add-flow DP '([^']*)'", cmd)
    assert flow is not None, cmd
    parsed = parse_flow(flow.group(1))
    assert parsed.ufid == ufid
    carried = canonical_key(parsed.key) == canonical_key(key)
    assert carried != bool(note), text  # carried bit for bit, or a NOTE says it is not
    if carried:
        assert canonical_key(parsed.mask or b"") == canonical_key(mask)
