"""Bytes, seeds and UFIDs for the hash and UFID tests (reference.hash, reference.ufid)."""

from __future__ import annotations

from hypothesis import strategies as st

from conformance.strategies._common import U32
from reference.ufid import Ufid

__all__ = ["hash_inputs", "seeds", "ufid_texts", "ufid_words", "ufids"]


def seeds() -> st.SearchStrategy[int]:
    """32-bit MurmurHash3 seeds (OVS's ``basis``), edges favoured."""
    return st.one_of(st.sampled_from([0, 1, 0x7FFF_FFFF, 0x8000_0000, U32]), st.integers(0, U32))


def hash_inputs(max_size: int = 300) -> st.SearchStrategy[bytes]:
    """Byte strings for hashing; sizes straddle the 16-byte block boundary often."""
    return st.one_of(
        st.binary(max_size=max_size),
        st.integers(0, 4).flatmap(lambda blocks: st.binary(min_size=max(0, blocks * 16 - 1), max_size=blocks * 16 + 1)),
    )


def ufid_words() -> st.SearchStrategy[tuple[int, int, int, int]]:
    """Four arbitrary 32-bit words, ``u32[0..3]`` of an ``ovs_u128``."""
    w = st.integers(0, U32)
    return st.tuples(w, w, w, w)


def ufids() -> st.SearchStrategy[Ufid]:
    """Arbitrary 128-bit UFIDs (not only OVS-generated v4 ones)."""
    return ufid_words().map(Ufid.from_words)


def ufid_texts() -> st.SearchStrategy[str]:
    """Valid UFID text in OVS's accepted form, hex digits in mixed case."""

    def _mixed_case(text: str, flips: list[bool]) -> str:
        return "ufid:" + "".join(c.upper() if f else c for c, f in zip(text[5:], flips, strict=False))

    return st.builds(
        _mixed_case,
        ufids().map(str),
        st.lists(st.booleans(), min_size=36, max_size=36),
    )
