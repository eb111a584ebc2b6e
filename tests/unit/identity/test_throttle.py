"""Brute-force rules with a moved clock (never a sleep): locks grow, never last for ever, a
success clears the count, and each parallel attempt counts."""

from datetime import UTC, datetime, timedelta

from services.identity.domain.throttle import Counter, Lockout, Window

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RULES = Lockout(free_failures=5, first_lock=timedelta(minutes=1), max_lock=timedelta(minutes=15))


def fail(times: int, state: Counter = Counter(), at: datetime = T0) -> Counter:
    for _ in range(times):
        state, decision = RULES.attempt(state, at)
        assert decision.allowed
    return state


def test_first_failures_are_free_then_the_fifth_locks() -> None:
    assert not RULES.locks(fail(4))
    state = fail(5)
    assert RULES.locks(state)
    assert state.locked_until == T0 + timedelta(minutes=1)


def test_a_locked_account_refuses_without_counting_and_says_when_to_retry() -> None:
    state = fail(5)
    after, decision = RULES.attempt(state, T0 + timedelta(seconds=30))
    assert not decision.allowed
    assert decision.retry_after == 30
    assert after == state


def test_the_lock_doubles_with_each_further_failure_up_to_the_cap() -> None:
    locks = [RULES.lock_for(n) for n in range(5, 12)]
    assert locks == [timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 15, 15)]


def test_the_lock_expires() -> None:
    state = fail(5)
    state, decision = RULES.attempt(state, T0 + timedelta(minutes=1))
    assert decision.allowed
    assert state.count == 6
    assert state.locked_until == T0 + timedelta(minutes=3)


def test_a_success_clears_the_count() -> None:
    assert RULES.succeeded() == Counter()


def test_a_quiet_day_forgets_old_failures() -> None:
    state = fail(4)
    state, _ = RULES.attempt(state, T0 + timedelta(hours=25))
    assert state.count == 1


def test_at_most_ten_guesses_in_any_five_minutes_and_few_an_hour() -> None:
    """Cyber Essentials: no more than 10 guesses in 5 minutes; ASVS: under 100 an hour."""
    state, now, admitted = Counter(), T0, []
    while now < T0 + timedelta(hours=1):
        state, decision = RULES.attempt(state, now)
        if decision.allowed:
            admitted.append(now)
        now += timedelta(seconds=1)
    assert len(admitted) < 100
    for start in admitted:
        assert sum(start <= t < start + timedelta(minutes=5) for t in admitted) <= 10


def test_window_allows_the_limit_then_refuses_until_it_passes() -> None:
    window = Window(limit=3, window=timedelta(minutes=15))
    state = Counter()
    for _ in range(3):
        assert window.check(state, T0).allowed
        state = window.record(state, T0)
    refused = window.check(state, T0 + timedelta(minutes=5))
    assert not refused.allowed
    assert refused.retry_after == 600
    assert window.check(state, T0 + timedelta(minutes=15)).allowed
    assert window.record(state, T0 + timedelta(minutes=15)).count == 1
