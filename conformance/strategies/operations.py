"""Batches of dpif operations for ``Dpif.operate`` (small pools, so that operations collide)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from conformance.suite._flows import eth_key, eth_mask, output, ufid_n
from reference.dpif import DelOp, GetOp, PutFlags, PutOp

__all__ = ["dpif_batches", "dpif_ops"]


def dpif_ops(*, ufid: bool = True) -> st.SearchStrategy[Any]:
    """Put, get and del operations over 3 keys, 2 masks and 3 UFIDs (``ufid=False``: no UFIDs)."""
    keys = st.integers(1, 3).map(lambda n: eth_key(1, src=n))
    masks = st.sampled_from([eth_mask(), eth_mask(dst=False)])
    ufids_ = st.one_of(st.none(), st.integers(1, 3).map(ufid_n)) if ufid else st.none()
    flags = st.sampled_from(
        [PutFlags.CREATE, PutFlags.MODIFY, PutFlags.CREATE | PutFlags.MODIFY, PutFlags.MODIFY | PutFlags.ZERO_STATS]
    )
    puts = st.builds(PutOp, keys, masks, st.sampled_from([2, 3]).map(output), ufid=ufids_, flags=flags)
    dels = st.builds(DelOp, ufid=ufids_, key=keys)
    gets = st.builds(GetOp, ufid=ufids_, key=keys)
    return st.one_of(puts, puts, dels, gets)


def dpif_batches(*, ufid: bool = True, max_size: int = 12) -> st.SearchStrategy[list[Any]]:
    """Lists of :func:`dpif_ops` for ``Dpif.operate``."""
    return st.lists(dpif_ops(ufid=ufid), min_size=1, max_size=max_size)
