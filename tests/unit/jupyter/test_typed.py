"""What a ``%ws`` line's warning shows as its source: the line as typed."""

from __future__ import annotations

import pytest

from ohws_jupyter.jupyter.magics.typed import typed_line


@pytest.mark.parametrize(
    ("rewritten", "typed"),
    [
        ("get_ipython().run_line_magic('ws', 'close 4000 lesson over')\n",
         "%ws close 4000 lesson over\n"),
        ("    get_ipython().run_line_magic('ws', 'connect $url')\n", "    %ws connect $url\n"),
        ("r = get_ipython().run_line_magic('ws', 'close')\n", "r = %ws close\n"),
        ("get_ipython().run_line_magic('ws', '')\n", "%ws\n"),
        ("get_ipython().run_cell_magic('ws', 'send', 'hello\\n')\n", "%%ws send\n"),
        ("get_ipython().run_line_magic('ws', \"send it's\")\n", "%ws send it's\n"),
    ],
)  # fmt: skip
def test_ipythons_call_of_a_magic_reads_as_typed(rewritten: str, typed: str) -> None:
    assert typed_line(rewritten) == typed


@pytest.mark.parametrize(
    "source",
    [
        "ws.close({'code': 4000})\n",
        "get_ipython().run_line_magic('ws', name)\n",  # not a literal: nothing to show
        "get_ipython().run_line_magic(\n",
    ],
)
def test_other_lines_are_left_alone(source: str) -> None:
    assert typed_line(source) is None
