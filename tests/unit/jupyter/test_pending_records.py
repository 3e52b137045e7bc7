"""``PendingRecords``: what waits for a panel's next refresh is bounded in count and bytes."""

from __future__ import annotations

from ohws_jupyter.core.events import Record
from ohws_jupyter.jupyter.panel_model import PendingRecords


def _message(size: int) -> Record:
    return Record(0.0, "message", "<", data=b"x" * size, pieces=1)


def test_records_are_numbered_and_the_oldest_past_the_count_are_skipped() -> None:
    pending = PendingRecords(max_records=3, max_bytes=1 << 20)
    for i in range(5):
        pending.put(Record(float(i), "open", "="))
    assert pending.last_seq == 5
    items, skipped = pending.take()
    assert [seq for seq, _ in items] == [3, 4, 5] and skipped == 2
    assert pending.take() == ([], 0)


def test_put_says_when_the_waiting_messages_pass_the_byte_budget() -> None:
    pending = PendingRecords(max_records=100, max_bytes=3000)
    assert [pending.put(_message(1000)) for _ in range(3)] == [False, False, True]
    pending.take()
    assert pending.put(_message(1000)) is False  # a take starts the count again


def test_a_skipped_message_no_longer_counts_against_the_budget() -> None:
    pending = PendingRecords(max_records=2, max_bytes=2500)
    assert pending.put(_message(1000)) is False
    assert pending.put(_message(1000)) is False
    # The first is skipped to make room: two messages wait, not three.
    assert pending.put(_message(1000)) is False
    assert pending.put(Record(0.0, "open", "=")) is False
