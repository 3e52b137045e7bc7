"""Reading a ``%ws`` line: shell words, leading and trailing options, headers.

Only the options at the start of ``%ws send`` (and the options around a
``%ws close`` reason) are read as shell words: the text after them is kept as
typed, in time linear in its length (``shlex`` takes minutes on a 10 MB word).
Every mistake is a ``UsageError`` of one sentence.
"""

from __future__ import annotations

import re

from IPython.core.error import UsageError

from ...core.checks import check_header_name
from ...core.errors import BusinessError

__all__ = [
    "MAX_ARGS",
    "OPTION_CHARS",
    "parse_headers",
    "positive_seconds",
    "split_options",
    "split_trailing",
    "word_at",
]

# One shell word: bare characters and quoted runs, as shlex reads them ...
_WORD = re.compile(r"""(?:[^\s'"]+|'[^']*'|"[^"\\]*(?:\\.[^"\\]*)*")+""")
# ... and its pieces, to take the quotes off.
_PIECE = re.compile(r"""([^\s'"]+)|'([^']*)'|"([^"\\]*(?:\\.[^"\\]*)*)\"""")
# Inside double quotes a backslash escapes only these (POSIX).
_DQ_ESCAPE = re.compile(r'\\(["\\$`])')
_SPACE = re.compile(r"\s*")
#: Longest word read as a possible option or close code: longer ones are text.
OPTION_CHARS = 1024
#: Longest argument text read with shlex (all but the raw-text commands): far
#: more than any URL (under 8196 characters) with headers needs.
MAX_ARGS = 100_000


def parse_headers(lines: list[str], option: str = "-H") -> dict[str, str]:
    """The ``-H 'Name: value'`` options as a dict; a malformed one is a UsageError."""
    out: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        name = name.strip()
        # The value may be a credential: never echo it back in an error.
        if not colon:
            raise UsageError(f"a header needs a colon; write it as {option} 'Name: value'")
        try:
            check_header_name(name)
        except BusinessError:
            raise UsageError(
                f"header name {name!r} is not valid; use letters, digits and - "
                f"as in {option} 'X-Token: value'"
            ) from None
        out[name] = value.strip()
    return out


def positive_seconds(value: float | None, option: str, *, zero: bool = True) -> None:
    """A ``--timeout``-like value: 0 or more seconds (more than 0 unless ``zero``)."""
    if value is None:
        return
    if zero and value < 0:
        raise UsageError(f"{option} must be 0 or more seconds, not {value:g}")
    if not zero and (not value > 0 or value == float("inf")):
        raise UsageError(f"{option} must be more than 0 seconds, not {value:g}")


def unquote(raw: str) -> str:
    """A shell word without its quotes (POSIX rules), in linear time."""
    if "'" not in raw and '"' not in raw:
        return raw
    return "".join(
        bare or single or _DQ_ESCAPE.sub(r"\1", double or "")
        for bare, single, double in (m.groups() for m in _PIECE.finditer(raw))
    )


def word_at(line: str, pos: int, limit: int | None = None) -> tuple[str, int, int] | None:
    """The shell word at ``pos`` (after spaces) as (unquoted, start, end), or None.

    None at the end of the line, at a word with an unclosed quote, and, given
    ``limit``, at a word longer than that: options and close codes are short,
    so a long word is text and is never scanned to its end.

    Linear in the length of the word, unlike ``shlex``, which builds each word a
    character at a time and takes minutes on a 10 MB message.
    """
    spaces = _SPACE.match(line, pos)
    assert spaces is not None  # \s* matches at every position
    pos = spaces.end()
    end = len(line) if limit is None else min(len(line), pos + limit)
    match = _WORD.match(line, pos, end)
    if match is None or (match.end() < len(line) and not line[match.end()].isspace()):
        return None
    return unquote(match.group(0)), match.start(), match.end()


def split_options(line: str, with_value: set[str], flags: set[str]) -> tuple[list[str], str]:
    """Split the leading options of ``line`` from the raw text after them.

    ``%ws send`` sends the rest of the line as typed, quotes and spacing kept,
    so only the known options at its start are read as shell words; ``--``
    ends them.
    """
    argv: list[str] = []
    pos = 0
    while True:
        found = word_at(line, pos, OPTION_CHARS)
        if found is None:
            break
        word, _, end = found
        option = word.split("=", 1)[0]
        if word == "--":
            pos = end
            break
        if option not in with_value and option not in flags:
            break
        if end > MAX_ARGS:
            raise UsageError(
                f"the options take over {MAX_ARGS:,} characters; "
                "put the text after them (or after --)"
            )
        argv.append(word)
        pos = end
        if option in with_value and "=" not in word:
            value = word_at(line, pos)  # a value may be long: --binary with 5 MB of hex
            if value is None:
                break  # argparse says the value is missing
            argv.append(value[0])
            pos = value[2]
    return argv, line[pos:].strip()


def split_trailing(text: str, with_value: set[str], flags: set[str]) -> tuple[str, list[str]]:
    """Split options written after the text (``%ws close 4000 bye -n a``) from it.

    Only a run of known options that reaches the end of the line counts; the
    text before it is kept as typed.
    """
    words: list[tuple[str, int, int]] = []
    pos = 0
    while (found := word_at(text, pos)) is not None:
        words.append(found)
        pos = found[2]
    for first in range(len(words)):
        argv: list[str] = []
        i = first
        while i < len(words):
            word = words[i][0]
            option = word.split("=", 1)[0]
            if option in flags or (option in with_value and "=" in word):
                argv.append(word)
                i += 1
            elif option in with_value and i + 1 < len(words):
                argv += [word, words[i + 1][0]]
                i += 2
            else:
                break
        if argv and i == len(words) and pos == len(text):
            return text[: words[first][1]].rstrip(), argv
    return text, []
