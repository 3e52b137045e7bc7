"""Where things are in the repository."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ROOT", "USER_DOCS"]

#: The repository's root folder (README.md, notebooks/, benchmarks/, ohws_jupyter/).
ROOT = Path(__file__).resolve().parents[2]

#: What a user reads, in reading order: the README (the front page), then the pages of
#: the documentation site whose examples and claims the tests check. Their ```python
#: blocks run in this order in one kernel (tests/jupyter/test_readme.py).
USER_DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "api.md",
    ROOT / "docs" / "record.md",
    ROOT / "docs" / "porting.md",
    ROOT / "docs" / "server.md",
    ROOT / "docs" / "magics.md",
    ROOT / "docs" / "panel.md",
]
