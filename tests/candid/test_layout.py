"""The layout engine under the reference-style printer: groups, lookahead, hard lines."""

from __future__ import annotations

from icframework.candid.layout import HARDLINE, LINE, Group, Nest, Text, cat, display_width, render


def block(*items: str) -> Group:
    inner = cat(*[part for item in items for part in (LINE, item)][1:])
    return Group(cat(Nest(2, cat("{", LINE, inner)), LINE, "}"))


def test_a_group_is_flat_when_it_fits_and_broken_when_not() -> None:
    doc = block("a;", "b;")
    assert render(doc, 80) == "{ a; b; }"
    assert render(doc, 8) == "{\n  a;\n  b;\n}"
    assert render(doc, 9) == "{ a; b; }"  # exactly the width fits


def test_the_text_after_a_group_up_to_the_next_break_must_fit_too() -> None:
    doc = cat(block("a;"), " tail", LINE, "next")
    # "{ a; } tail" is 11 columns: at width 10 the group breaks although it fits alone.
    assert render(doc, 11) == "{ a; } tail\nnext"
    assert render(doc, 10) == "{\n  a;\n} tail\nnext"


def test_a_hard_line_never_fits_flat_and_indents_as_what_follows() -> None:
    doc = Group(cat("(", Nest(4, cat(HARDLINE, "x")), ")"))
    assert render(doc, 80) == "(\n    x)"


def test_wide_characters_take_two_columns() -> None:
    assert display_width("字段名") == 6
    assert display_width("e\u0301") == 1
    assert Text.of("字段").width == 4
