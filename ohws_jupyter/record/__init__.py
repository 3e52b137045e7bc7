"""Record, replay, assert: transcripts and their exports (JSONL, HAR, DataFrame),
replaying a transcript, ``expect``/``request``, and copy-as-code (JS, Python,
wscat, websocat, ArkTS).

Imports ``core`` and ``engine``; ``replay`` also creates clients.
"""

from .expect import ExpectationError
from .export import Code, copy_as_code
from .replay import ReplayReport, ReplayRow, replay
from .transcript import RoundTrip, Transcript, TranscriptError

__all__ = [
    "Code",
    "ExpectationError",
    "ReplayReport",
    "ReplayRow",
    "RoundTrip",
    "Transcript",
    "TranscriptError",
    "copy_as_code",
    "replay",
]
