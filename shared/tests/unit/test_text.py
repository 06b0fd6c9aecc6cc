"""One text rule: what PostgreSQL cannot store and what does not read, and its three variants."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierline_shared.schemas import unstorable as schemas_unstorable
from tierline_shared.text import readable, scrub, storable, unstorable

any_text = st.text(alphabet=st.characters(codec=None))


# -- unstorable: the HTTP edge's test --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", False),
        ("", False),
        ("tab\tnew\nline", False),
        ("esc\x1b[0m", False),  # storable, only unreadable
        ("zero\u200bwidth", False),
        ("Ünïcödé ✓ 工单 😀", False),
        ("nul\x00byte", True),
        ("\ud800", True),
        ("lone \udfff low", True),
    ],
)
def test_unstorable_is_nul_or_a_lone_surrogate(text: str, expected: bool) -> None:
    assert unstorable(text) is expected


def test_the_api_models_use_the_same_rule() -> None:
    assert schemas_unstorable is unstorable


# -- scrub: the rule itself --------------------------------------------------------------------


def test_scrub_replaces_each_kind_as_asked() -> None:
    text = "a\x00b\x1bc\ud800d\u202ee\n\tf"
    assert scrub(text) == "a b c\ufffdd\u202ee\n\tf"
    assert scrub(text, keep="", control="", surrogate="", invisible="") == "abcdef"
    assert scrub(text, invisible="?") == "a b c\ufffdd?e\n\tf"
    assert scrub(text, keep="\n", control="_") == "a_b_c\ufffdd\u202ee\n_f"


def test_private_use_and_unassigned_are_invisible() -> None:
    assert scrub("a\ue000b\U000e0080c", invisible="") == "abc"
    assert scrub("a\ue000b") == "a\ue000b"


@given(any_text)
def test_scrubbed_text_is_always_storable(text: str) -> None:
    assert not unstorable(scrub(text))
    assert not unstorable(scrub(text, keep="", control="", surrogate="", invisible=""))


@given(any_text)
def test_scrub_keeps_the_length_when_replacing_one_for_one(text: str) -> None:
    assert len(scrub(text)) == len(text)


# -- storable: monitoring alerts (intake) ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        (None, ""),
        ("", ""),
        ("High CPU", "High CPU"),
        ("bell\x07and\x1bescape", "bell and escape"),
        ("nul\x00byte", "nul byte"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("line 1\n\tline 2\r", "line 1\n\tline 2 "),
        ("zero\u200bwidth", "zero\u200bwidth"),  # format characters stay
        (42, "42"),
        ({"k": 1}, "{'k': 1}"),
    ],
)
def test_storable_replaces_what_cannot_be_stored_or_steers_a_terminal(raw: object, cleaned: str) -> None:
    assert storable(raw) == cleaned


# -- readable: vendors' free text (vendor gateway) ---------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("ACME-4711", "ACME-4711"),
        ("a\u202eb", "ab"),
        ("\x1b[31mred\x1b[0m", "[31mred[0m"),
        ("nul\x00byte", "nulbyte"),
        ("zero\u200bwidth", "zerowidth"),
        ("lone\ud800surrogate", "lonesurrogate"),
        ("  padded  ", "padded"),
        ("\x07\x1b", None),
        ("", None),
        (None, None),
        ("Ünïcödé ✓ 工单", "Ünïcödé ✓ 工单"),
    ],
)
def test_readable_drops_every_invisible_character(raw: str | None, cleaned: str | None) -> None:
    assert readable(raw) == cleaned


def test_readable_keeps_newlines_and_tabs_only_in_multiline_text() -> None:
    assert readable("line 1\n\tline 2", multiline=True) == "line 1\n\tline 2"
    assert readable("line 1\n\tline 2") == "line 1line 2"
    assert readable(" \n\t ", multiline=True) is None


def test_readable_is_stripped_then_bounded() -> None:
    assert readable("x" * 6000) == "x" * 5000
    assert readable("x" * 300, limit=200) == "x" * 200
    assert readable("   " + "y" * 10, limit=5) == "yyyyy"


@given(any_text, st.booleans())
def test_readable_text_is_storable_and_holds_no_control_character(text: str, multiline: bool) -> None:
    cleaned = readable(text, multiline=multiline)
    if cleaned is not None:
        assert not unstorable(cleaned)
        kept = "\n\t" if multiline else ""
        assert all(ch in kept or unicodedata.category(ch)[0] != "C" for ch in cleaned)


def test_scrub_agrees_with_the_character_rule_whatever_the_text() -> None:
    """The C-speed check that finds nothing to replace must never skip a character the rule would."""
    import random
    import unicodedata

    def by_rule(text: str, keep: str) -> str:
        out = []
        for char in text:
            category = unicodedata.category(char)
            if char in keep:
                out.append(char)
            else:
                out.append("\ufffd" if category == "Cs" else " " if category == "Cc" else char)
        return "".join(out)

    pool = [chr(i) for i in [*range(0x100), 0x200B, 0x202E, 0xD800, 0xDFFF, 0xE000, 0x10FFFF, 0x1F600]]
    rng = random.Random(15)
    for _ in range(5000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 10)))
        for keep in ("\n\t", "", "\n"):
            assert scrub(text, keep=keep) == by_rule(text, keep), (text, keep)
    clean = "Disk full on db-1\n\tat 99%"
    assert scrub(clean) is clean  # nothing to replace: the same string, not a copy
