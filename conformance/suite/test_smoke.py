"""UFID-SMOKE: can the backend be used at all (runs first; the rest is skipped when it fails)."""

from __future__ import annotations

import pytest

from conformance.suite._flows import flow_spec
from conformance.suite._helpers import del_flow, get_flow, install, requirement
from reference.dpif import Dpif, DpifNotFound


@requirement("UFID-SMOKE-001")
def test_open_put_get_delete_one_flow(dpif: Dpif) -> None:
    spec = flow_spec(1, with_ufid=dpif.features.ufid)
    install(dpif, spec)
    got = get_flow(dpif, spec)
    assert got.actions == spec.actions, "get did not return the installed actions"
    del_flow(dpif, spec)
    with pytest.raises(DpifNotFound):
        get_flow(dpif, spec)
