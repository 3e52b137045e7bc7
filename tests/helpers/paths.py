"""Where things are in the repository."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ROOT"]

#: The repository's root folder (README.md, notebooks/, benchmarks/, ohws_jupyter/).
ROOT = Path(__file__).resolve().parents[2]
