"""``split_message``: the seed's 4K rule, cutting text only between UTF-8 characters."""

from __future__ import annotations

import itertools

import pytest

from ohws_jupyter import split_message

ONE_OF_EACH_WIDTH = "a" + "é" + "€" + "😀"  # 1, 2, 3 and 4 UTF-8 bytes


def test_short_messages_are_one_piece() -> None:
    assert split_message("") == [""]
    assert split_message("x" * 4096) == ["x" * 4096]
    assert split_message(b"") == [b""]
    assert split_message(b"\x00" * 4096) == [b"\x00" * 4096]


def test_binary_is_cut_every_4096_bytes() -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    pieces = split_message(data)
    assert [len(p) for p in pieces] == [4096, 4096, 2048]
    assert b"".join(pieces) == data and all(type(p) is bytes for p in pieces)


def test_a_10_kib_text_message_is_three_pieces() -> None:  # the README's example
    assert [len(p) for p in split_message("x" * 10240)] == [4096, 4096, 2048]


@pytest.mark.parametrize("offset", range(4))
@pytest.mark.parametrize("size", [4, 5, 6, 7, 4096])
def test_text_is_never_cut_inside_a_character(offset: int, size: int) -> None:
    text = "x" * offset + ONE_OF_EACH_WIDTH * 2000
    pieces = split_message(text, size)
    assert "".join(pieces) == text
    for piece in pieces:
        assert 0 < len(piece.encode()) <= size
    # Each cut is as late as it can be: the next character would not have fit.
    for piece, following in itertools.pairwise(pieces):
        assert len(piece.encode()) + len(following[0].encode()) > size


def test_a_piece_is_full_unless_a_character_would_straddle_the_limit() -> None:
    text = "é" * 4096  # 8192 bytes: 2048 characters fit in each 4096-byte piece
    assert [len(p) for p in split_message(text)] == [2048, 2048]
    shifted = "a" + "é" * 4096  # 8193 bytes: the first cut falls inside an 'é'
    assert [len(p.encode()) for p in split_message(shifted)] == [4095, 4096, 2]
