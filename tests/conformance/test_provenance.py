"""Provenance records: what a backend declares is copied as given, or refused with the place named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.errors import UsageError
from conformance.provenance import FIELDS, Provenance, provenance_records

_records = st.builds(Provenance, st.text(), st.text(), st.text())


@given(st.lists(_records, max_size=4), st.data())
def test_records_and_their_mappings_read_back_as_given(records: list[Provenance], data: st.DataObject) -> None:
    mixed = [r.as_dict() if data.draw(st.booleans()) else r for r in records]
    assert provenance_records(mixed, where="b") == tuple(records)
    assert provenance_records(tuple(r.as_dict() for r in records), where="b") == tuple(records)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("6.1", "b: expected a sequence of provenance records, got str"),
        (42, "b: expected a sequence of provenance records, got int"),
        ([("Linux", "6.1", "x")], "b[0]: expected a Provenance or a mapping of component, version, source, got tuple"),
        ([{"component": "Linux", "version": "6.1"}], "b[0]: missing or not a string: source"),
        ([{"component": "L", "version": "1", "source": "s", "sha": "x"}], "b[0]: unknown fields sha"),
        ([Provenance("a", "b", "c"), {"component": 1, "version": "1", "source": "s"}], "b[1]: missing or not"),
    ],
)
def test_malformed_provenance_names_the_entry(value: object, message: str) -> None:
    with pytest.raises(UsageError) as info:
        provenance_records(value, where="b")
    assert str(info.value).startswith(message)


def test_no_provenance_is_empty_not_invented() -> None:
    assert provenance_records(None, where="b") == () == provenance_records([], where="b")
    assert FIELDS == ("component", "version", "source")
