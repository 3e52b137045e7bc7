"""Lining two runs up and showing them: pure, from steps written by hand."""

from __future__ import annotations

import re

from ohws_jupyter.comparison import Comparison, Difference, Run
from ohws_jupyter.comparison.result import MAX_SHOWN_ROWS, line_up
from ohws_jupyter.core.errors import BusinessError
from ohws_jupyter.core.options import CloseResult

HOSTILE = "<script>x()</script><img>&amp;"


def run_of(profile: str, *steps: tuple[str, object]) -> Run:
    run = Run(profile)
    for what, value in steps:
        run.add(what, value)
    return run


def shape(result: Comparison) -> list[tuple[str, object, object]]:
    return [(r.what, r.seed and r.seed.value, r.device and r.device.value) for r in result.rows]


def test_the_nth_step_of_a_name_faces_the_nth_of_that_name() -> None:
    seed = run_of(
        "seed",
        ("ws event 'message'", "a" * 10),
        ("ws event 'message'", "b"),
        ("ws event 'dataEnd'", ()),
        ("ws event 'close'", CloseResult(1005, "")),
    )
    device = run_of(
        "device",
        ("ws: error", BusinessError(200, "x", "0")),
        ("ws event 'message'", "a" * 10 + "b"),
        ("ws event 'dataEnd'", ()),
        ("ws event 'close'", CloseResult(1000, "The link is down")),
        ("ws: close", 1000),
    )
    result = Comparison(seed, device)
    assert shape(result) == [
        ("ws: error", None, "BusinessError 200: [200] Websocket connection error: x, data '0'"),
        ("ws event 'message'", "'aaaaaaaaaa'", "'aaaaaaaaaab'"),
        ("ws event 'message'", "'b'", None),
        ("ws event 'dataEnd'", "()", "()"),
        (
            "ws event 'close'",
            "CloseResult(code=1005, reason='')",
            "CloseResult(code=1000, reason='The link is down')",
        ),
        ("ws: close", None, "1000"),
    ]
    assert [r.differs for r in result.rows] == [True, True, True, False, True, True]
    assert result.differences[2] == Difference("ws event 'message'", "'b'", None)
    assert str(result.differences[2]) == "ws event 'message': seed 'b' | device —"
    assert result.summary() == "seed and device differ in 5 of 6 rows (≠)"


def test_the_same_steps_make_no_difference_whatever_their_times() -> None:
    seed = run_of("seed", ("ws.send()", "hi"), ("ws.send() →", True))
    device = run_of("device", ("ws.send()", "hi"), ("ws.send() →", True))
    result = Comparison(seed, device)
    assert result.differences == []
    assert result.summary() == "seed and device: the same 2 steps"
    assert line_up([], []) == []


def test_long_values_compare_whole_though_they_show_cut() -> None:
    seed = run_of("seed", ("ws event 'message'", "x" * 5000 + "a"))
    device = run_of("device", ("ws event 'message'", "x" * 5000 + "b"))
    result = Comparison(seed, device)
    ((difference),) = result.differences
    assert difference.seed == difference.device  # the shown text is the same ...
    assert "(5,001 chars)" in str(difference.seed)  # ... and says how long it is


def test_text_shows_two_aligned_columns_and_marks_the_differing_rows() -> None:
    seed = run_of("seed", ("ws.connect()", "<peer>"), ("ws: close", "1005 ''"))
    device = run_of("device", ("ws.connect()", "<peer>"), ("ws: close", "1000 'The link is down'"))
    text = str(Comparison(seed, device))
    assert repr(Comparison(seed, device)) == text
    head, title, same, differs = text.splitlines()
    assert head == "seed and device differ in 1 of 2 rows (≠)"
    assert title.split() == ["what", "seed", "device"]
    assert same.startswith("   ws.connect()") and differs.startswith("≠  ws: close")
    # The device column starts at the same place on every line.
    device_at = title.index("device")
    for line in (same, differs):
        assert line[device_at - 2 : device_at] == "  "
        assert re.match(r" *\d+\.\d ms  ", line[device_at:])
    assert differs.endswith("\"1000 'The link is down'\"")


def test_html_escapes_every_value_and_marks_the_differing_rows() -> None:
    seed = run_of("seed", ("ws event 'message'", HOSTILE), ("ws: open", ""))
    device = run_of("device", ("ws event 'message'", HOSTILE + "!"), ("ws: open", ""))
    page = Comparison(seed, device)._repr_html_()
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "&amp;amp;" in page
    rows = re.findall(r"<tr class=\"(ohws-\w+)\"", page)
    assert rows == ["ohws-differs", "ohws-same"]
    assert page.count("≠") == 2  # the summary's and the differing row's


def test_a_long_comparison_shows_its_first_rows_and_says_what_it_left_out() -> None:
    many = [("ws.send()", i) for i in range(MAX_SHOWN_ROWS + 3)]
    seed = run_of("seed", *many)
    device = run_of("device", *many[:-1], ("ws.send()", -1))
    result = Comparison(seed, device)
    assert len(result.rows) == MAX_SHOWN_ROWS + 3 and len(result.differences) == 1
    assert str(result).splitlines()[-1] == "… 3 more rows (1 differ): see .rows and .differences"
    assert result._repr_html_().count("<tr") == MAX_SHOWN_ROWS + 1  # and the header
