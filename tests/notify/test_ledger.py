"""The ledger on a real SQLite file: one claim per identity, and old entries pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notify.ledger import KEEP, DeliveryRecord, Ledger

NOW = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)


def record(at: datetime) -> DeliveryRecord:
    return DeliveryRecord(at, "room-1", "systolic", "Dr X", "json", "alarm", True)


def test_claims_and_deliveries_older_than_the_retention_are_pruned(tmp_path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    old, recent = NOW - KEEP - timedelta(seconds=1), NOW - KEEP + timedelta(seconds=1)
    assert ledger.claim("old", "n1", old) and ledger.claim("recent", "n1", recent)
    ledger.record("old", 0, record(old))
    ledger.record("recent", 0, record(recent))
    assert ledger.prune(NOW) == 2  # one claim, one delivery
    assert [r.time for r in ledger.deliveries()] == [recent]
    assert not ledger.claim("recent", "n2", NOW)  # a kept claim still holds
    assert ledger.claim("old", "n2", NOW)  # a pruned one is gone
    ledger.close()


def test_a_second_claim_on_the_same_identity_fails(tmp_path) -> None:
    first, second = Ledger(tmp_path / "l.sqlite3"), Ledger(tmp_path / "l.sqlite3")
    assert first.claim("x", "n1", NOW)
    assert not second.claim("x", "n2", NOW)
    first.close()
    second.close()
