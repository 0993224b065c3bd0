"""One reading of an ingest worker's status, shared by the pipeline banner and `vitals check`
(pure, a table of documents)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard.health import ingest_problem
from vitals.check import judge_ingest
from vitals.ingest_health import Condition, worker_health

NOW = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)
FRESH, OLD = "2026-12-03T08:59:58Z", "2026-12-03T08:59:00Z"


def doc(**values: object) -> dict[str, object]:
    return {"client_id": "w1", "state": "running", "time": FRESH, "interval_s": 5,
            "broker": "up", "store": "up", **values}


@pytest.mark.parametrize(("document", "condition", "store_down"), [
    (doc(), Condition.JUDGING, False),
    (doc(store="down", store_down_since="2026-12-03T08:58:00Z"), Condition.JUDGING, True),
    (doc(time=OLD), Condition.SILENT, False),  # 60 s > 3 x 5 s
    (doc(time=OLD, interval_s=30), Condition.JUDGING, False),  # 60 s < 3 x 30 s
    (doc(time=None), Condition.SILENT, False),  # no time: cannot be shown fresh
    (doc(broker="down"), Condition.BROKER_LOST, False),
    ({"client_id": "w1", "state": "offline", "broker": "down"}, Condition.OFFLINE, False),
    (doc(state="stopped"), Condition.STOPPED, False),
    (doc(state="failed"), Condition.FAILED, False),
    (doc(state="starting"), Condition.UNKNOWN, False),
])
def test_a_status_document_reads_as_one_condition(document, condition, store_down):
    health = worker_health(document, NOW)
    assert (health.condition, health.store_down) == (condition, store_down)


@pytest.mark.parametrize("documents", [
    [doc()], [doc(store="down")], [doc(time=OLD)], [doc(broker="down")],
    [{"client_id": "w1", "state": "offline"}], [doc(state="starting")],
    [doc(), doc(client_id="w2", time=OLD)], [doc(state="stopped")], [doc(state="failed")],
    [doc(), doc(client_id="w2", state="failed")],
    [doc(), doc(client_id="w2", state="stopped")],
])
def test_the_banner_and_the_check_never_disagree_about_a_worker(documents):
    banner = ingest_problem({str(d["client_id"]): d for d in documents}, NOW)
    check = judge_ingest(documents, NOW)
    # A problem on the screen is a failed check, and a failed check is on the screen (a worker
    # stopped while another runs is a warning for the operator, and no news on screen).
    assert (banner is not None) == (check.status == "FAIL")
