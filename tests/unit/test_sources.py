from __future__ import annotations

import pytest

from faceledger.errors import LawfulBasisError
from faceledger.privacy.sources import parse_retention, validate_source
from faceledger.types import SourceInfo

GOOD = SourceInfo(
    name="events-2026", kind="folder", location="/photos", controller="Acme",
    lawful_basis="consent", purpose="attendees find photos", retention_days=365,
    special_category_condition="explicit-consent", minors_policy="none-expected",
)


def test_a_complete_source_passes():
    validate_source(GOOD)


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("controller", "", "controller"),
        ("lawful_basis", "because", "Art. 6"),
        ("special_category_condition", "", "Art. 9"),
        ("purpose", " ", "purpose"),
        ("retention_days", 0, "retention"),
        ("minors_policy", "", "minors"),
        ("name", "../etc", "name"),
        ("kind", "crawler", "kind"),
    ],
)
def test_each_missing_part_is_named(field, value, needle):
    from dataclasses import replace

    with pytest.raises(LawfulBasisError, match=needle):
        validate_source(replace(GOOD, **{field: value}))


@pytest.mark.parametrize(
    "text,days", [("365d", 365), ("2w", 14), ("12m", 360), ("1y", 365), ("30", 30)]
)
def test_retention_units(text, days):
    assert parse_retention(text) == days


@pytest.mark.parametrize("text", ["forever", "0d", "-1d", "1h"])
def test_bad_retention_is_refused(text):
    with pytest.raises(LawfulBasisError):
        parse_retention(text)
