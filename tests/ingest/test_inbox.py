"""The worker's inbox: FIFO hand-over in batches, and the count of messages still held."""

from __future__ import annotations

import threading

import pytest

from ingest.inbox import Inbox


def test_items_come_out_in_order_in_batches_of_at_most_the_limit():
    inbox: Inbox[int] = Inbox()
    for n in range(5):
        inbox.put(n)
    assert inbox.take(limit=3, timeout=0) == [0, 1, 2]
    assert inbox.take(limit=3, timeout=0) == [3, 4]
    assert inbox.take(limit=3, timeout=0) == []


def test_taken_items_stay_unfinished_until_finished():
    inbox: Inbox[str] = Inbox()
    inbox.put("a")
    inbox.put("b")
    inbox.take(limit=10, timeout=0)
    assert inbox.unfinished == 2
    inbox.finished(1)
    assert inbox.unfinished == 1
    inbox.finished(1)
    assert inbox.unfinished == 0


def test_finishing_more_than_was_put_is_a_bug_not_a_negative_backlog():
    inbox: Inbox[str] = Inbox()
    inbox.put("a")
    with pytest.raises(ValueError, match="unfinished"):
        inbox.finished(2)
    assert inbox.unfinished == 1


def test_a_waiting_take_returns_as_soon_as_an_item_is_put():
    inbox: Inbox[str] = Inbox()
    taken: list[list[str]] = []
    taker = threading.Thread(target=lambda: taken.append(inbox.take(limit=10, timeout=30)))
    taker.start()
    inbox.put("a")
    taker.join(10)
    assert not taker.is_alive(), "take did not wake up when an item arrived"
    assert taken == [["a"]]
