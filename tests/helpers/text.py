"""Text filters for what processes and kernels print."""

from __future__ import annotations

__all__ = ["without_portability_warnings"]


def without_portability_warnings(text: str) -> str:
    """Stderr text less the PortabilityWarnings: the seed profile's intended advice."""
    lines, keep, skip_source = text.splitlines(keepends=True), [], False
    for line in lines:
        if "PortabilityWarning:" in line:
            skip_source = True  # the warning line, then its indented source line
            continue
        if skip_source and line.startswith(" "):
            skip_source = False
            continue
        skip_source = False
        keep.append(line)
    return "".join(keep)
