"""The backend's hash (UFID-HASH-001) and netdev UFID generation (UFID-GEN-001)."""

from __future__ import annotations

from collections.abc import Callable

import mmh3
from hypothesis import given
from hypothesis import strategies as st

from conformance.plugin import BackendSession
from conformance.suite._flows import flow_spec
from conformance.suite._helpers import install, requirement
from conformance.suite._settings import property_settings
from reference.dpif import Dpif, key_hasher


def _hash_of(dpif: Dpif) -> Callable[[bytes, int], bytes]:
    hasher = key_hasher(dpif)
    assert hasher is not None, "capability hash without a hash_bytes128"  # the plugin checked it
    return hasher.hash_bytes128


@requirement("UFID-HASH-001")
def test_hash_matches_murmur3_examples(dpif_session: BackendSession) -> None:
    dpif = dpif_session.fresh()
    fn = _hash_of(dpif)
    for n in (0, 1, 15, 16, 17, 31, 32, 33, 100):
        data = bytes(range(n))
        for basis in (0, 1, 0x9747B28C, 0xFFFFFFFF):
            want = mmh3.hash_bytes(data, basis, x64arch=True)
            assert fn(data, basis) == want, f"hash_bytes128({n} bytes, {basis:#x}) != MurmurHash3_x64_128"


@requirement("UFID-HASH-001")
def test_hash_matches_shipped_vectors_and_smhasher(dpif_session: BackendSession) -> None:
    from conformance.vectors import load_vectors, smhasher_verification

    fn = _hash_of(dpif_session.fresh())
    suite = load_vectors("x64")
    for group in suite.groups:
        for v in group.vectors:
            got = fn(v.data, v.seed)
            assert got == v.expected, (
                f"vector {group.name} ({len(v.data)} bytes, seed {v.seed:#x}): {bytes(got).hex()} != {v.expected.hex()}"
            )
    check = smhasher_verification(fn)
    assert check == suite.smhasher_expected, f"SMHasher verification {check:#010x} != {suite.smhasher_expected:#010x}"


@requirement("UFID-HASH-001")
@property_settings()
@given(data=st.binary(max_size=200), basis=st.integers(0, 0xFFFFFFFF))
def test_hash_matches_murmur3_property(dpif_session: BackendSession, data: bytes, basis: int) -> None:
    fn = _hash_of(dpif_session.fresh())
    assert fn(data, basis) == mmh3.hash_bytes(data, basis, x64arch=True)


@requirement("UFID-GEN-001")
def test_generated_ufids_are_v4(dpif: Dpif) -> None:
    for i in range(1, 6):
        install(dpif, flow_spec(i, with_ufid=False))
    flows = list(dpif.flow_dump())
    assert len(flows) == 5
    for f in flows:
        assert f.ufid is not None and f.ufid_present, "a flow put without UFID has no generated UFID"
        assert f.ufid.is_ovs_generated, f"generated UFID {f.ufid} lacks the RFC 4122 v4/variant bits"
    assert len({f.ufid for f in flows}) == 5, "generated UFIDs collide"
