"""Vendors' free text is kept readable: no control or format characters reach tables or screens."""

import pytest

from tierline_vendor_gateway.domain.text import clean_text


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("ACME-4711", "ACME-4711"),
        ("a\u202eb", "ab"),  # a right-to-left override would make "ab" read as something else
        ("\x1b[31mred\x1b[0m", "[31mred[0m"),  # terminal escapes lose their ESC
        ("nul\x00byte", "nulbyte"),
        ("zero\u200bwidth", "zerowidth"),
        ("  padded  ", "padded"),
        ("\x07\x1b", None),  # nothing readable left
        (None, None),
        ("Ünïcödé ✓ 工单", "Ünïcödé ✓ 工单"),
    ],
)
def test_control_and_format_characters_are_dropped(raw: str | None, cleaned: str | None) -> None:
    assert clean_text(raw) == cleaned


def test_newlines_and_tabs_stay_only_in_multiline_text() -> None:
    assert clean_text("line 1\n\tline 2", multiline=True) == "line 1\n\tline 2"
    assert clean_text("line 1\n\tline 2") == "line 1line 2"


def test_text_is_bounded() -> None:
    assert clean_text("x" * 300, limit=200) == "x" * 200
