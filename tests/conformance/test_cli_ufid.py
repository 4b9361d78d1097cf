"""``ufidcert ufid from-key`` and ``ufidcert ufid parse`` through conformance.cli.main."""

from __future__ import annotations

import contextlib
import io
import re
import struct
import uuid

import mmh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.cli import main
from conformance.strategies import hash_inputs, seeds
from reference.hash import native_variant

_NETLINK_KEY = "08000300010000001000040050540000000950540000000a0600060008000000"
_UFID_LINE = re.compile(r"ufid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# --- from-key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_key", "secret", "text"),
    [
        # Values from OVS's own lib/hash.c hash_bytes128 on x86_64, so x64 (fixtures/make_murmur3_vectors.py).
        ("616263", "0", "ufid:3fad7867-b496-4f3f-a6ca-2d523ba27441"),
        ("616263", "0x12345678", "ufid:d8fb0b5b-6db9-4ede-bc00-13713287cf11"),
        (_NETLINK_KEY, "0", "ufid:bcda3c88-f237-450a-9efe-4a931bbddf7e"),
        (_NETLINK_KEY, "305419896", "ufid:8604928b-47fc-4917-af2a-adc493c0f695"),
        ("", "0", "ufid:00000000-0000-4000-8000-000000000000"),
    ],
)
def test_from_key_matches_ovs(hex_key: str, secret: str, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "ufid", "from-key", "--hex", hex_key, "--secret", secret, "--variant", "x64")
    assert status == 0
    assert out == text + "\n"


def test_from_key_accepts_separators(capsys: pytest.CaptureFixture[str]) -> None:
    spaced = " ".join(_NETLINK_KEY[i : i + 2] for i in range(0, len(_NETLINK_KEY), 2))
    status, out, _ = _run(capsys, "ufid", "from-key", "--hex", spaced, "--secret", "0", "--variant", "x64")
    assert status == 0
    assert out.strip() == "ufid:bcda3c88-f237-450a-9efe-4a931bbddf7e"


@settings(max_examples=25)
@given(key=hash_inputs(max_size=100), secret=seeds(), variant=st.sampled_from(["x64", "x86"]))
def test_from_key_equals_stdlib_oracle(key: bytes, secret: int, variant: str) -> None:
    # capsys does not reset between hypothesis examples; capture each run separately.
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(["ufid", "from-key", "--hex", key.hex(), "--secret", hex(secret), "--variant", variant])
    assert status == 0
    w0, w1, w2, w3 = struct.unpack("<4I", mmh3.hash_bytes(key, secret, variant == "x64"))
    w1 = (w1 & ~0xF000) | 0x4000
    w2 = (w2 & ~0xC000_0000) | 0x8000_0000
    assert buf.getvalue().strip() == "ufid:" + str(uuid.UUID(bytes=struct.pack(">4I", w0, w1, w2, w3)))


def test_from_key_random_secret_is_reported_and_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "ufid", "from-key", "--hex", _NETLINK_KEY)
    assert status == 0
    assert _UFID_LINE.fullmatch(out.strip())
    match = re.search(r"random secret (0x[0-9a-f]{8}), variant (x64|x86)", err)
    assert match is not None
    assert match.group(2) == native_variant()
    status, again, _ = _run(capsys, "ufid", "from-key", "--hex", _NETLINK_KEY, "--secret", match.group(1))
    assert again == out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--hex", "61z"], "not a hex digit"),
        (["--hex", "616"], "odd number"),
        (["--hex", "61", "--secret", "-1"], "32-bit"),
        (["--hex", "61", "--secret", "4294967296"], "32-bit"),
        (["--hex", "61", "--secret", "twelve"], "--secret"),
    ],
)
def test_from_key_bad_arguments_exit_2(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "ufid", "from-key", *args)
    assert status == 2
    assert out == ""
    assert needle in err
    assert "Traceback" not in err


def test_from_key_bad_variant_is_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["ufid", "from-key", "--hex", "61", "--variant", "x32"])
    assert info.value.code == 2
    assert "x32" in capsys.readouterr().err


# --- parse --------------------------------------------------------------------------------


def test_parse_prints_words_wire_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "ufid", "parse", "ufid:3FAD7867-b496-4F3F-a6ca-2d523ba27441")
    assert status == 0
    lines = {
        line.split()[0] + (" " + line.split()[1] if line.startswith("wire") else ""): line for line in out.splitlines()
    }
    assert lines["text"].split()[1] == "ufid:3fad7867-b496-4f3f-a6ca-2d523ba27441"
    assert lines["words"].split()[1:5] == ["0x3fad7867", "0xb4964f3f", "0xa6ca2d52", "0x3ba27441"]
    words = (0x3FAD7867, 0xB4964F3F, 0xA6CA2D52, 0x3BA27441)
    assert lines["wire little"].split(maxsplit=2)[2] == struct.pack("<4I", *words).hex(" ")
    assert lines["wire big"].split(maxsplit=2)[2] == struct.pack(">4I", *words).hex(" ")
    assert "set" in lines["v4"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ufid:3fad7867xb496-4f3f-a6ca-2d523ba27441", "expected '-'"),
        ("UFID:3fad7867-b496-4f3f-a6ca-2d523ba27441", "lowercase"),
        ("ufid:3fad7867b4964f3fa6ca2d523ba27441", "column 13"),
        ("3fad7867-b496-4f3f-a6ca-2d523ba27441", "ufid:"),
        ("ufid:3fad7867-b496-4f3f-a6ca-2d523ba27441 ", "after"),
        ("", "ufid:"),
    ],
)
def test_parse_bad_text_exits_2(text: str, needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "ufid", "parse", text)
    assert status == 2
    assert out == ""
    assert err.startswith("ufidcert ufid: error: ")
    assert needle in err
    assert "Traceback" not in err


def test_ufid_without_subcommand_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["ufid"])
    assert info.value.code == 2
    capsys.readouterr()
