"""reference.ufid: derivation, text/words/wire/int round trips, OVS's parser rules."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import re
import secrets
import struct
import uuid
from importlib import resources
from typing import Any

import mmh3
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import reference.ufid as ufid_module
from conformance.strategies import hash_inputs, seeds, ufid_texts, ufid_words, ufids
from reference.errors import OdpSyntaxError, UfidcertInputError
from reference.hash import VARIANTS, Variant, hash_bytes128, native_variant
from reference.ufid import Ufid, UfidGenerator, UfidSyntaxError

# An independent oracle for what odp_ufid_from_string + "nothing after" accepts
# (lib/uuid.c uuid_from_string_prefix: hexit_value takes only ASCII hex digits).
_H = "[0-9a-fA-F]"
_UFID_RE = re.compile(rf"ufid:{_H}{{8}}-{_H}{{4}}-{_H}{{4}}-{_H}{{4}}-{_H}{{12}}")


def _oracle_ufid_text(image: bytes) -> str:
    """uuid_set_bits_v4 + odp_format_ufid via the stdlib uuid module, independently of Ufid."""
    w0, w1, w2, w3 = struct.unpack("<4I", image)
    w1 = (w1 & ~0xF000) | 0x4000
    w2 = (w2 & ~0xC000_0000) | 0x8000_0000
    return "ufid:" + str(uuid.UUID(bytes=struct.pack(">4I", w0, w1, w2, w3)))


def _fixture() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        resources.files("conformance.fixtures").joinpath("murmur3_vectors.json").read_text(encoding="utf-8")
    )
    return doc


_UFID_VECTORS = _fixture()["ufid_vectors"]["vectors"]


# --- derivation ----------------------------------------------------------------------


@pytest.mark.parametrize("vec", _UFID_VECTORS, ids=lambda v: f"{v['variant']}-{v['secret']:#x}-{len(v['key']) // 2}B")
def test_from_key_reproduces_fixture(vec: dict[str, Any]) -> None:
    u = Ufid.from_key(bytes.fromhex(vec["key"]), vec["secret"], variant=vec["variant"])
    assert str(u) == vec["ufid"]
    assert UfidGenerator(vec["secret"], variant=vec["variant"])(bytes.fromhex(vec["key"])) == u


@pytest.mark.parametrize(
    ("key", "secret", "text"),
    [
        # OVS's own lib/hash.c hash_bytes128 compiled on x86_64 (x64); see fixtures/make_murmur3_vectors.py.
        (b"", 0, "ufid:00000000-0000-4000-8000-000000000000"),
        (b"abc", 0, "ufid:3fad7867-b496-4f3f-a6ca-2d523ba27441"),
        (b"abc", 0x12345678, "ufid:d8fb0b5b-6db9-4ede-bc00-13713287cf11"),
        (
            bytes.fromhex("08000300010000001000040050540000000950540000000a0600060008000000"),
            0,
            "ufid:bcda3c88-f237-450a-9efe-4a931bbddf7e",
        ),
    ],
)
def test_from_key_matches_ovs(key: bytes, secret: int, text: str) -> None:
    assert str(Ufid.from_key(key, secret, variant="x64")) == text


@given(key=hash_inputs(), secret=seeds(), variant=st.sampled_from(VARIANTS))
def test_from_key_is_hash_plus_v4_bits(key: bytes, secret: int, variant: Variant) -> None:
    u = Ufid.from_key(key, secret, variant=variant)
    assert str(u) == _oracle_ufid_text(mmh3.hash_bytes(key, secret, variant == "x64"))
    assert u.uuid.version == 4
    assert u.uuid.variant == uuid.RFC_4122
    assert u.is_ovs_generated


@given(key=hash_inputs(max_size=80), secret=seeds(), variant=st.sampled_from(VARIANTS))
def test_fast_digest_equals_hash_bytes128(key: bytes, secret: int, variant: Variant) -> None:
    # from_key uses mmh3's integer digest for speed; it must be the LE image of hash_bytes128.
    digest = ufid_module._DIGESTS[variant]
    assert digest(key, secret) == int.from_bytes(hash_bytes128(key, secret, variant=variant), "little")


@given(key=hash_inputs(max_size=64), secret=seeds())
def test_default_variant_is_native(key: bytes, secret: int) -> None:
    assert Ufid.from_key(key, secret) == Ufid.from_key(key, secret, variant=native_variant())


def test_from_key_accepts_bytes_like() -> None:
    key = bytes(range(50))
    assert Ufid.from_key(bytearray(key), 9) == Ufid.from_key(memoryview(key), 9) == Ufid.from_key(key, 9)


@pytest.mark.parametrize(
    ("key", "secret", "error", "match"),
    [
        ("abc", 0, TypeError, "bytes"),
        (None, 0, TypeError, "bytes"),
        (b"abc", -1, UfidcertInputError, "secret"),
        (b"abc", 2**32, UfidcertInputError, "secret"),
        (b"abc", 1.5, TypeError, "secret"),
        (b"abc", "1", TypeError, "secret"),
    ],
)
def test_from_key_bad_input(key: object, secret: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Ufid.from_key(key, secret)  # type: ignore[arg-type]
    if match == "bytes":
        with pytest.raises(error, match=match):
            UfidGenerator(1)(key)  # type: ignore[arg-type]


def test_from_key_bad_variant() -> None:
    with pytest.raises(UfidcertInputError, match="variant"):
        Ufid.from_key(b"", 0, variant="x32")  # type: ignore[arg-type]


# --- representations and round trips ----------------------------------------------


@given(u=ufids())
def test_round_trips(u: Ufid) -> None:
    assert Ufid.parse(str(u)) == u
    assert Ufid.from_words(u.words) == u
    assert Ufid.from_int(int(u)) == u
    for order in ("little", "big"):
        assert Ufid.from_wire(u.to_wire(order), order) == u


@given(words=ufid_words())
def test_layouts_against_struct_and_uuid(words: tuple[int, int, int, int]) -> None:
    u = Ufid.from_words(words)
    assert u.words == words
    # OVS_FLOW_ATTR_UFID carries u32[0..3] in host order (LE here).
    assert u.to_wire("little") == struct.pack("<4I", *words)
    assert u.to_wire("big") == struct.pack(">4I", *words)
    # odp_format_ufid == the stdlib's UUID text of the words concatenated big-endian.
    assert str(u) == "ufid:" + str(uuid.UUID(bytes=struct.pack(">4I", *words)))
    # int(u) is the ovs_u128 value u64.hi << 64 | u64.lo on a little-endian host.
    lo, hi = struct.unpack("<QQ", struct.pack("<4I", *words))
    assert int(u) == hi << 64 | lo
    assert len(str(u)) == 41


@given(text=ufid_texts())
def test_parse_accepts_either_case(text: str) -> None:
    u = Ufid.parse(text)
    assert str(u) == text.lower()
    assert Ufid.parse(text.lower()) == u


# Arbitrary text, and small mutations of valid text (the interesting boundary).
_mutated_texts = st.tuples(
    ufid_texts(), st.integers(0, 45), st.sampled_from(["", "-", "0", "g", " ", "F", "\u0663", "ä"])
).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + (t[1] % 2) :])


@given(text=st.one_of(st.text(), _mutated_texts, ufid_texts().map(lambda t: t + ",in_port(1)")))
@example("UFID:3fad7867-b496-4f3f-a6ca-2d523ba27441")
@example(" ufid:3fad7867-b496-4f3f-a6ca-2d523ba27441")
@example("ufid:3fad7867b4964f3fa6ca2d523ba27441")
@example("ufid:+fad7867-b496-4f3f-a6ca-2d523ba27441")
@example("ufid:3fad7867-b496-4f3f-a6ca-2d523ba2744\u0661")
def test_parse_raises_only_syntax_error(text: str) -> None:
    try:
        u = Ufid.parse(text)
    except UfidSyntaxError as exc:
        assert _UFID_RE.fullmatch(text) is None
        assert exc.column is not None
        assert 0 <= exc.column <= len(text)
    else:
        assert _UFID_RE.fullmatch(text) is not None
        assert str(u) == text.lower()


@pytest.mark.parametrize(
    ("text", "column", "match"),
    [
        ("UFID:3fad7867-b496-4f3f-a6ca-2d523ba27441", 0, "lowercase"),
        ("flow:3fad7867-b496-4f3f-a6ca-2d523ba27441", 0, "ufid:"),
        ("", 0, "ufid:"),
        ("ufid:3fad7867xb496-4f3f-a6ca-2d523ba27441", 13, "'-'"),
        ("ufid:3fad7867-b496-4f3f-a6ca-2d523ba2744g", 40, "hex digit"),
        ("ufid:3fad78", 11, "ends after 6"),
        ("ufid:3fad7867b4964f3fa6ca2d523ba27441", 13, "'-'"),
        ("ufid:3fad7867-b496-4f3f-a6ca-2d523ba27441,in_port(1)", 41, "after"),
        ("ufid:3fad7867-b496-4f3f-a6ca-2d523ba2744\u0661", 40, "hex digit"),
    ],
)
def test_parse_errors_say_what_and_where(text: str, column: int, match: str) -> None:
    with pytest.raises(UfidSyntaxError, match=match) as info:
        Ufid.parse(text)
    assert info.value.column == column
    assert f"column {column}" in str(info.value)
    # One error hierarchy: catchable as the project's input error and as ValueError.
    assert isinstance(info.value, UfidcertInputError)
    assert isinstance(info.value, OdpSyntaxError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value", [b"ufid:3fad7867-b496-4f3f-a6ca-2d523ba27441", None, 5])
def test_parse_requires_str(value: object) -> None:
    with pytest.raises(TypeError):
        Ufid.parse(value)  # type: ignore[arg-type]


# --- value semantics -----------------------------------------------------------------


def test_immutable() -> None:
    u = Ufid.from_words((1, 2, 3, 4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        u.value = 5  # type: ignore[misc]


@given(a=ufids(), b=ufids())
def test_hash_eq_order_consistent(a: Ufid, b: Ufid) -> None:
    assert (a == b) == (int(a) == int(b)) == (str(a) == str(b))
    assert (a < b) == (int(a) < int(b))
    if a == b:
        assert hash(a) == hash(b)
    assert len({a, b, Ufid.from_int(int(a))}) == len({int(a), int(b)})


@given(u=ufids())
def test_pickle_and_copy_preserve_value(u: Ufid) -> None:
    assert pickle.loads(pickle.dumps(u)) == u
    assert copy.deepcopy(u) == u


def test_repr_round_trips() -> None:
    u = Ufid.from_key(b"abc", 0, variant="x64")
    assert repr(u) == "Ufid.parse('ufid:3fad7867-b496-4f3f-a6ca-2d523ba27441')"
    assert eval(repr(u), {"Ufid": Ufid}) == u


def test_is_ovs_generated_checks_both_fields() -> None:
    assert Ufid.parse("ufid:00000000-0000-4000-8000-000000000000").is_ovs_generated
    assert Ufid.parse("ufid:00000000-0000-4000-b000-000000000000").is_ovs_generated
    assert not Ufid.parse("ufid:00000000-0000-5000-8000-000000000000").is_ovs_generated
    assert not Ufid.parse("ufid:00000000-0000-4000-c000-000000000000").is_ovs_generated
    assert not Ufid.parse("ufid:00000000-0000-0000-0000-000000000000").is_ovs_generated


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: Ufid.from_words((1, 2, 3)), UfidcertInputError),
        (lambda: Ufid.from_words((1, 2, 3, 4, 5)), UfidcertInputError),
        (lambda: Ufid.from_words((1, 2, 2**32, 4)), UfidcertInputError),
        (lambda: Ufid.from_words((1, -2, 3, 4)), UfidcertInputError),
        (lambda: Ufid.from_words((1, 2.0, 3, 4)), TypeError),  # type: ignore[arg-type]
        (lambda: Ufid.from_wire(bytes(15)), UfidcertInputError),
        (lambda: Ufid.from_wire(bytes(17)), UfidcertInputError),
        (lambda: Ufid.from_wire(bytes(16), "middle"), UfidcertInputError),  # type: ignore[arg-type]
        (lambda: Ufid.from_wire("0" * 16), TypeError),  # type: ignore[arg-type]
        (lambda: Ufid.from_int(-1), UfidcertInputError),
        (lambda: Ufid.from_int(2**128), UfidcertInputError),
        (lambda: Ufid.from_int("1"), TypeError),  # type: ignore[arg-type]
        (lambda: Ufid.from_words((1, 2, 3, 4)).to_wire("native"), UfidcertInputError),  # type: ignore[arg-type]
    ],
)
def test_constructor_errors(call: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        call()


# --- generator -------------------------------------------------------------------------


def test_generator_with_injected_secret_is_reproducible() -> None:
    g1, g2 = UfidGenerator(0x12345678, variant="x64"), UfidGenerator(0x12345678, variant="x64")
    assert g1.secret == 0x12345678
    assert g1.variant == "x64"
    assert g1(b"abc") == g2(b"abc") == Ufid.parse("ufid:d8fb0b5b-6db9-4ede-bc00-13713287cf11")
    assert "0x12345678" in repr(g1)


def test_generator_draws_a_secret_per_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter([0xAAAA0001, 0xBBBB0002])
    monkeypatch.setattr(secrets, "randbits", lambda bits: next(drawn) if bits == 32 else -1)
    g1, g2 = UfidGenerator(), UfidGenerator()
    assert (g1.secret, g2.secret) == (0xAAAA0001, 0xBBBB0002)
    assert g1(b"key") == Ufid.from_key(b"key", 0xAAAA0001)
    assert g1(b"key") != g2(b"key")


def test_generator_secrets_are_random() -> None:
    # 16 draws of 32 random bits: all equal only with probability 2**-480.
    assert len({UfidGenerator().secret for _ in range(16)}) > 1


@pytest.mark.parametrize(("secret", "error"), [(-1, UfidcertInputError), (2**32, UfidcertInputError), ("1", TypeError)])
def test_generator_rejects_bad_secret(secret: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        UfidGenerator(secret)  # type: ignore[arg-type]
