"""Login throttling (pure, with a fake clock): failures lock a name or an address out for a
while, the refusal says until when, and memory stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.throttle import LIMITS, LoginThrottle, refusal

START = datetime(2026, 11, 28, 17, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def throttle(clock) -> LoginThrottle:
    return LoginThrottle(clock=clock)


def fail(throttle: LoginThrottle, times: int, name: str = "nurse",
         address: str = "10.0.0.1") -> datetime | None:
    until = None
    for _ in range(times):
        until = throttle.failed(name, address)
    return until


def test_the_default_limits_are_those_the_readme_states():
    assert (LIMITS["name"].failures, LIMITS["name"].window, LIMITS["name"].lockout) == (
        5, timedelta(minutes=15), timedelta(minutes=15))
    assert LIMITS["address"].failures == 20


@pytest.mark.parametrize(
    ("failures", "locked"),
    [(0, False), (4, False), (5, True), (6, True)],
)
def test_five_failures_for_a_name_lock_it_out(throttle, failures, locked):
    fail(throttle, failures)

    assert (throttle.locked_until("nurse", "10.0.0.1") is not None) is locked


def test_the_lockout_ends_fifteen_minutes_after_the_fifth_failure(throttle, clock):
    until = fail(throttle, 5)
    assert until == START + timedelta(minutes=15)

    clock.advance(minutes=14, seconds=59)
    assert throttle.locked_until("nurse", "10.0.0.1") == until

    clock.advance(seconds=1)
    assert throttle.locked_until("nurse", "10.0.0.1") is None
    assert fail(throttle, 4) is None  # a clean slate after the lockout


def test_failures_older_than_the_window_do_not_count(throttle, clock):
    fail(throttle, 4)
    clock.advance(minutes=15)

    assert fail(throttle, 4) is None
    assert throttle.locked_until("nurse", "10.0.0.1") is None


def test_failing_while_locked_out_does_not_push_the_retry_time_back(throttle, clock):
    until = fail(throttle, 5)
    clock.advance(minutes=5)

    assert fail(throttle, 3) == until


def test_a_lockout_for_one_name_leaves_other_names_from_elsewhere_alone(throttle):
    fail(throttle, 5, name="nurse", address="10.0.0.1")

    assert throttle.locked_until("nurse", "10.0.0.2") is not None  # the name, from anywhere
    assert throttle.locked_until("doctor", "10.0.0.2") is None
    assert throttle.locked_until("doctor", "10.0.0.1") is None  # the shared ward computer


def test_names_are_counted_whatever_their_case(throttle):
    fail(throttle, 3, name="Nurse")
    fail(throttle, 2, name="nurse ")

    assert throttle.locked_until("NURSE", "10.0.0.9") is not None


def test_twenty_failures_from_one_address_lock_out_every_name_from_it(throttle):
    for i in range(20):
        throttle.failed(f"guess-{i}", "10.0.0.1")

    assert throttle.locked_until("doctor", "10.0.0.1") is not None
    assert throttle.locked_until("doctor", "10.0.0.2") is None


def test_a_success_forgives_the_names_failures_but_not_the_addresses(throttle):
    for i in range(16):
        throttle.failed(f"guess-{i}", "10.0.0.1")
    fail(throttle, 4, name="nurse")

    throttle.succeeded("nurse", "10.0.0.1")

    assert fail(throttle, 4, name="nurse", address="10.0.0.2") is None
    assert throttle.locked_until("other", "10.0.0.1") is not None  # 16 + 4 from the address


def test_memory_stays_bounded_under_a_spray_of_names(clock):
    throttle = LoginThrottle(clock=clock, max_keys=100)

    for i in range(1000):
        throttle.failed(f"guess-{i}" + "x" * 10_000, f"10.0.{i // 250}.{i % 250}")

    assert len(throttle) == 100


def test_the_address_being_attacked_stays_remembered_while_names_are_sprayed(clock):
    throttle = LoginThrottle(clock=clock, max_keys=10)

    for i in range(100):
        throttle.failed(f"guess-{i}", "10.6.6.6")

    assert throttle.locked_until("anyone", "10.6.6.6") is not None


@pytest.mark.parametrize(
    ("remaining", "says"),
    [
        (timedelta(minutes=15), "after 17:15 UTC (in 15 minutes)"),
        (timedelta(seconds=61), "after 17:02 UTC (in 2 minutes)"),
        (timedelta(seconds=20), "after 17:01 UTC (in 1 minute)"),
    ],
)
def test_the_refusal_says_when_to_try_again_and_nothing_about_the_name(remaining, says):
    message = refusal(START + remaining, START)

    assert says in message
    assert "Too many failed logins" in message
    assert "user" not in message.lower()


def test_a_name_locked_out_elsewhere_still_logs_in_from_an_address_it_logged_in_from(throttle):
    throttle.succeeded("nurse", "10.0.0.1")  # the ward computer, yesterday
    fail(throttle, 5, name="nurse", address="10.6.6.6")  # someone guessing elsewhere
    for i in range(20):  # and a colleague's typos on the ward computer
        throttle.failed(f"typo-{i}", "10.0.0.1")

    assert throttle.locked_until("nurse", "10.6.6.6") is not None
    assert throttle.locked_until("other", "10.0.0.1") is not None
    assert throttle.locked_until("nurse", "10.0.0.1") is None


def test_guessing_from_a_known_address_is_still_slowed_for_that_pair(throttle):
    throttle.succeeded("nurse", "10.0.0.1")

    assert fail(throttle, 4, name="nurse", address="10.0.0.1") is None
    assert fail(throttle, 1, name="nurse", address="10.0.0.1") is not None
    assert throttle.locked_until("nurse", "10.0.0.2") is None  # the pair's own budget
