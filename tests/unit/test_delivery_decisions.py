"""What an attempt leads to (wbauto.delivery.worker), against the documented delivery rules: a success
finishes the execution; network errors, timeouts, 5xx, 408, 429 and 401/403 are retried with backoff (a
``Retry-After`` honoured when longer) until ``maxAttempts`` attempts in total, then the execution fails with
``gave up after N attempts: ...``; other 4xx, config errors and bugs fail it at once; a missing dependency
is retried. The pure decisions first, then the dispatcher end to end on a virtual clock and a real store:
no test waits out a retry timer."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.clock import EPOCH, VirtualClock
from wbauto.actions.base import Action, Context, Result
from wbauto.actions.egress import Policy as EgressPolicy
from wbauto.actions.http import Outbound
from wbauto.api.event import Event, EventType
from wbauto.api.execution import (
    AutomationExecutionSpec,
    AutomationRef,
    ExecutionAction,
    ExecutionRecord,
    Phase,
    RequestRecord,
)
from wbauto.delivery.queue import DelayQueue
from wbauto.delivery.worker import Decision, Dispatcher, Outcome, decide, outcome_of
from wbauto.engine.retry import Policy
from wbauto.errors import ConfigError, DeliveryError, DependencyMissing, SecretError
from wbauto.redact import REDACTOR
from wbauto.runtime.standalone.store import SqliteStore
from wbauto.secrets import base as secrets_base
from wbauto.secrets.resolver import Resolver

TOP = 1.0 - 2 ** -53  # random.random()'s largest value: no jitter reduction
POLICY = Policy(max_attempts=4, backoff=2.0, max_backoff=300.0)


def failed(code: int | None = 503, *, retryable: bool = True, retry_after: float | None = None,
           error: str = "HTTP 503") -> Outcome:
    return Outcome(error=error, retryable=retryable, response_code=code, retry_after=retry_after)


# --- decide: pure ---------------------------------------------------------------------------------------


def test_a_result_finishes_the_execution_whatever_the_attempt() -> None:
    for attempt in (1, 4, 99):
        assert decide(Outcome(result=Result(200)), attempt, POLICY) == Decision(Phase.FINISHED)


def test_a_retryable_failure_waits_the_backoff_then_doubles() -> None:
    waits = [decide(failed(), n, POLICY, rand=lambda: TOP) for n in (1, 2, 3)]
    assert [d.phase for d in waits] == [Phase.PENDING] * 3
    assert [d.delay for d in waits] == pytest.approx([2.0, 4.0, 8.0])
    assert all(d.error == "HTTP 503" for d in waits)  # the history shows why it waits


def test_max_attempts_counts_the_first_attempt_and_then_gives_up() -> None:
    last = decide(failed(), POLICY.max_attempts, POLICY)
    assert last == Decision(Phase.FAILED, None, "gave up after 4 attempts: HTTP 503")
    assert decide(failed(), 1, Policy(max_attempts=1)).phase is Phase.FAILED  # one attempt: never a retry


def test_a_permanent_failure_fails_at_once_without_the_gave_up_prefix() -> None:
    decision = decide(failed(404, retryable=False, error="HTTP 404"), 1, POLICY)
    assert decision == Decision(Phase.FAILED, None, "HTTP 404")


@pytest.mark.parametrize(("retry_after", "wait"), [(120.0, 120.0), (0.5, 2.0), (7200.0, 3600.0)])
def test_a_rate_limited_attempt_waits_what_the_server_asked_when_longer(retry_after: float, wait: float) -> None:
    decision = decide(failed(429, retry_after=retry_after, error="HTTP 429"), 1, POLICY, rand=lambda: TOP)
    assert decision.phase is Phase.PENDING and decision.delay == pytest.approx(wait)


def test_retry_after_does_not_buy_more_attempts() -> None:
    assert decide(failed(429, retry_after=5.0), POLICY.max_attempts, POLICY).phase is Phase.FAILED


def test_the_error_in_the_history_never_shows_a_secret_and_is_cut_to_1_kib() -> None:
    REDACTOR.add("s3cr3t-token-value")
    decision = decide(failed(error="HTTP 401: Bearer s3cr3t-token-value refused " + "x" * 5000), 1, POLICY)
    assert decision.error is not None and "s3cr3t" not in decision.error and "***" in decision.error
    assert len(decision.error) <= 1024
    assert len(decide(failed(error="y" * 5000), POLICY.max_attempts, POLICY).error or "") <= 1024


def test_an_error_without_text_still_says_it_failed() -> None:
    assert decide(Outcome(error=None, retryable=False), 1, POLICY).error == "failed"


@given(attempt=st.integers(1, 200), max_attempts=st.integers(1, 100), retryable=st.booleans(),
       retry_after=st.one_of(st.none(), st.floats(-10.0, 1e9)), r=st.floats(0.0, TOP))
def test_every_failure_either_waits_a_bounded_time_or_ends(attempt: int, max_attempts: int, retryable: bool,
                                                           retry_after: float | None, r: float) -> None:
    policy = Policy(max_attempts=max_attempts, backoff=2.0, max_backoff=300.0)
    decision = decide(failed(retryable=retryable, retry_after=retry_after), attempt, policy, rand=lambda: r)
    if retryable and attempt < max_attempts:
        assert decision.phase is Phase.PENDING
        assert decision.delay is not None and 1.0 <= decision.delay <= 3600.0
    else:
        assert decision.phase is Phase.FAILED and decision.delay is None
        assert decision.error is not None and decision.error.startswith("gave up after") is retryable


# --- outcome_of: what a failure means --------------------------------------------------------------------


def test_a_delivery_error_says_itself_whether_it_may_pass() -> None:
    request = RequestRecord(url="https://hooks.example.com/x")
    exc = DeliveryError("HTTP 503", retryable=True, status_code=503, retry_after=30.0, response_body="busy",
                        request=request)
    assert outcome_of(exc, "webhook") == Outcome(error="HTTP 503", retryable=True, response_code=503,
                                                 response_body="busy", retry_after=30.0, request=request)
    assert not outcome_of(DeliveryError("HTTP 400", retryable=False, status_code=400), "webhook").retryable


def test_a_missing_dependency_or_secret_is_not_yet_and_retried() -> None:
    assert outcome_of(DependencyMissing("Webhook ns/hook not found", reason="WebhookNotFound"), "webhook").retryable
    assert outcome_of(SecretError("vault sealed", reason="SecretUnavailable"), "slack").retryable
    denied = outcome_of(SecretError("no such key", reason="SecretKeyMissing", retryable=False), "slack")
    assert not denied.retryable and denied.error == "no such key"


def test_a_config_error_or_a_bug_fails_without_looping() -> None:
    assert outcome_of(ConfigError("unknown action type 'fax'"), "fax") == Outcome(error="unknown action type 'fax'")
    bug = outcome_of(KeyError("channel"), "slack")
    assert not bug.retryable and bug.error == "internal error in the slack action: KeyError: 'channel'"


# --- the dispatcher on a virtual clock and a real store ----------------------------------------------------


@dataclass
class Scripted(Action):
    """An action answering from a script: each attempt takes the next outcome (an exception or a result)."""

    script: list[Result | Exception]
    own_policy: Policy | None = None
    type = "scripted"  # type: ignore[misc]
    tried_at: list[datetime.datetime] = field(default_factory=list)
    clock: VirtualClock | None = None

    def policy(self, record: ExecutionRecord) -> Policy | None:
        return self.own_policy

    async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
        assert attempt == record.status.attempts + 1
        if self.clock is not None:
            self.tried_at.append(self.clock.now())
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


class FlakyStore(SqliteStore):
    """The real store, refusing the first ``refuse`` status writes (an apiserver or disk hiccup) and answering
    for ``deleted`` executions as a cluster store does once the object is gone."""

    def __init__(self, path: Path, refuse: int = 0) -> None:
        super().__init__(path)
        self.refuse = refuse
        self.deleted: set[str] = set()
        self.gone = asyncio.Event()  # set once it answered "no longer exists"

    async def save_status(self, record: ExecutionRecord) -> bool:
        if self.refuse:
            self.refuse -= 1
            raise OSError("disk I/O error")
        if record.name in self.deleted:
            self.gone.set()
            return False
        return await super().save_status(record)


def execution(name: str = "x", action: str = "scripted") -> ExecutionRecord:
    event = Event(id="e-" + name, type=EventType.ADD_ARTIFACT_ALIAS, time=EPOCH, entity="acme", project="p",
                  alias="production")
    return ExecutionRecord("default", name, AutomationExecutionSpec(
        automation=AutomationRef(name="auto"), event=event, action=ExecutionAction(type=action),
        delivery_id="d-" + name), created=EPOCH)


@dataclass
class Run:
    dispatcher: Dispatcher
    store: FlakyStore
    clock: VirtualClock
    updates: asyncio.Queue[ExecutionRecord]

    async def until_terminal(self, record: ExecutionRecord) -> ExecutionRecord:
        assert await self.store.create(record)
        self.dispatcher.submit(record)
        async with asyncio.timeout(10):  # virtual time: any retry schedule takes milliseconds
            while True:
                update = await self.updates.get()
                if update.terminal:
                    return update


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[..., Run]]:
    tasks: list[asyncio.Task[None]] = []
    stores: list[SqliteStore] = []
    contexts: list[Context] = []

    def make(action: Action, *, refuse: int = 0, default_policy: Policy = POLICY, jitter: float = TOP) -> Run:
        clock = VirtualClock()
        store = FlakyStore(tmp_path / f"state-{len(stores)}.sqlite", refuse)
        updates: asyncio.Queue[ExecutionRecord] = asyncio.Queue()

        async def on_update(record: ExecutionRecord) -> None:
            await updates.put(record)

        resolver = Resolver(secrets_base.Context(allow_local=True), lambda namespace, name: None)
        context = Context(resolver=resolver, http=Outbound(EgressPolicy.build(False, ())))
        dispatcher = Dispatcher(store, {action.type: action}, context, workers=2, on_update=on_update,
                                default_policy=default_policy, now=clock.now, clock=clock.monotonic,
                                sleep=clock.sleep, rand=lambda: jitter)
        if isinstance(action, Scripted):
            action.clock = clock
        stores.append(store)
        contexts.append(context)
        tasks.append(asyncio.create_task(dispatcher.run()))
        return Run(dispatcher, store, clock, updates)

    yield make
    for task in tasks:
        task.cancel()
    for task in tasks:
        with pytest.raises(asyncio.CancelledError):
            await task
    for store in stores:
        await store.close()
    for context in contexts:
        await context.http.aclose()


def http_error(code: int, retry_after: float | None = None) -> DeliveryError:
    from wbauto.engine.retry import retryable_status

    return DeliveryError(f"HTTP {code}", retryable=retryable_status(code), status_code=code, retry_after=retry_after)


async def test_two_503s_then_a_200_is_finished_after_the_backoff_schedule(start: Callable[..., Run]) -> None:
    action = Scripted([http_error(503), http_error(503), Result(200, "ok")])
    run = start(action)
    done = await run.until_terminal(execution())
    assert done.status.phase is Phase.FINISHED and done.status.attempts == 3
    assert done.status.response_code == 200 and done.status.error is None and done.status.next_attempt_time is None
    gaps = [(b - a).total_seconds() for a, b in zip(action.tried_at, action.tried_at[1:], strict=False)]
    assert gaps == pytest.approx([2.0, 4.0])  # backoff, then doubled (no jitter reduction at the top)
    stored = (await run.store.history(limit=1))[0]
    assert stored.status.phase is Phase.FINISHED and stored.status.attempts == 3


async def test_a_retry_is_stored_pending_with_its_due_time_before_it_runs(start: Callable[..., Run]) -> None:
    run = start(Scripted([http_error(503), Result(200)]))
    record = execution()
    assert await run.store.create(record)
    run.dispatcher.submit(record)
    first = await asyncio.wait_for(run.updates.get(), 10)
    assert first.status.phase is Phase.PENDING and first.status.attempts == 1
    assert first.status.error == "HTTP 503" and first.status.response_code == 503
    assert first.status.next_attempt_time == EPOCH + datetime.timedelta(seconds=2)
    assert (await asyncio.wait_for(run.updates.get(), 10)).status.phase is Phase.FINISHED


async def test_always_failing_gives_up_after_max_attempts(start: Callable[..., Run]) -> None:
    action = Scripted([http_error(502)] * 10)
    done = await start(action).until_terminal(execution())
    assert done.status.phase is Phase.FAILED and done.status.attempts == POLICY.max_attempts
    assert done.status.error == "gave up after 4 attempts: HTTP 502" and done.status.response_code == 502
    assert len(action.tried_at) == 4 and len(action.script) == 6


async def test_a_client_error_is_not_retried(start: Callable[..., Run]) -> None:
    action = Scripted([http_error(422), Result(200)])
    done = await start(action).until_terminal(execution())
    assert done.status.phase is Phase.FAILED and done.status.attempts == 1 and done.status.error == "HTTP 422"


async def test_retry_after_sets_the_next_attempt(start: Callable[..., Run]) -> None:
    action = Scripted([http_error(429, retry_after=90.0), Result(200)])
    done = await start(action).until_terminal(execution())
    assert done.status.phase is Phase.FINISHED
    assert (action.tried_at[1] - action.tried_at[0]).total_seconds() == pytest.approx(90.0)


async def test_an_action_without_its_own_policy_follows_the_operator_default(start: Callable[..., Run]) -> None:
    action = Scripted([http_error(503)] * 10)
    done = await start(action, default_policy=Policy(max_attempts=2, backoff=0.5, max_backoff=1.0)).until_terminal(
        execution())
    assert done.status.attempts == 2 and (done.status.error or "").startswith("gave up after 2 attempts")
    own = Scripted([http_error(503)] * 10, own_policy=Policy(max_attempts=3))
    assert (await start(own).until_terminal(execution("y"))).status.attempts == 3


async def test_a_bug_in_an_action_fails_the_execution_once(start: Callable[..., Run]) -> None:
    action = Scripted([ZeroDivisionError("division by zero"), Result(200)])
    done = await start(action).until_terminal(execution())
    assert done.status.phase is Phase.FAILED and done.status.attempts == 1
    assert done.status.error == "internal error in the scripted action: ZeroDivisionError: division by zero"


async def test_an_unknown_action_type_fails_as_a_config_error(start: Callable[..., Run]) -> None:
    done = await start(Scripted([])).until_terminal(execution(action="fax"))
    assert done.status.phase is Phase.FAILED and done.status.error == "unknown action type 'fax'"


async def test_a_refused_status_write_is_retried_and_the_delivery_is_not(start: Callable[..., Run]) -> None:
    action = Scripted([Result(200, "ok"), Result(200, "again")])
    run = start(action, refuse=2)
    done = await run.until_terminal(execution())
    assert done.status.phase is Phase.FINISHED and done.status.attempts == 1 and len(action.tried_at) == 1
    assert run.clock.elapsed == pytest.approx(10.0)  # two refused writes, each retried 5 s later (docs)
    assert (await run.store.history(limit=1))[0].status.phase is Phase.FINISHED


async def test_a_deleted_execution_is_cancelled_between_attempts(start: Callable[..., Run]) -> None:
    action = Scripted([http_error(503), http_error(503), Result(200)])
    run = start(action)
    record = execution()
    assert await run.store.create(record)
    run.dispatcher.submit(record)
    assert (await asyncio.wait_for(run.updates.get(), 10)).status.phase is Phase.PENDING
    run.store.deleted.add(record.name)  # deleted while it waits for its retry (kubectl delete)
    await asyncio.wait_for(run.store.gone.wait(), 10)
    assert len(action.tried_at) == 2  # the retry due ran, learnt it was deleted, and nothing more runs
    assert not run.dispatcher.records and len(run.dispatcher.queue) == 0 and run.updates.empty()


async def test_resume_runs_a_pending_retry_when_due_not_before(start: Callable[..., Run]) -> None:
    action = Scripted([Result(200)])
    run = start(action)
    due = EPOCH + datetime.timedelta(minutes=5)
    record = execution().with_status(attempts=1, error="HTTP 503", next_attempt_time=due)
    assert await run.store.create(record)
    assert await run.dispatcher.resume() == 1
    done = await asyncio.wait_for(run.updates.get(), 10)
    assert done.status.phase is Phase.FINISHED and done.status.attempts == 2
    assert action.tried_at == [due]


# --- the delay queue on a virtual clock ----------------------------------------------------------------


@pytest.fixture
async def timed() -> AsyncIterator[tuple[VirtualClock, DelayQueue[str]]]:
    """A delay queue on a virtual clock (closed after the test)."""
    clock = VirtualClock()
    queue: DelayQueue[str] = DelayQueue(clock.monotonic, clock.sleep)
    try:
        yield clock, queue
    finally:
        queue.close()


async def test_the_delay_queue_hands_out_keys_in_due_order_on_its_clock(
        timed: tuple[VirtualClock, DelayQueue[str]]) -> None:
    clock, queue = timed
    queue.add("late", 300.0)
    queue.add("soon", 2.0)
    queue.add("now")
    queue.add("late", 60.0)  # earlier due wins
    queue.add("soon", 500.0)  # later due is ignored
    got = []
    for _ in range(3):
        key = await asyncio.wait_for(queue.get(), 10)
        got.append((key, clock.elapsed))
    assert got == [("now", 0.0), ("soon", 2.0), ("late", 60.0)]
    assert len(queue) == 0


async def test_a_discarded_key_is_never_handed_out(timed: tuple[VirtualClock, DelayQueue[str]]) -> None:
    clock, queue = timed
    queue.add("gone", 5.0)
    queue.add("kept", 10.0)
    queue.discard("gone")
    assert await asyncio.wait_for(queue.get(), 10) == "kept"
    assert clock.slept == [10.0]  # the timer never woke for the discarded key


# --- the operator's retry settings ----------------------------------------------------------------------


def test_the_retry_settings_are_the_default_policy_of_actions_without_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from wbauto.runtime import settings

    def parse(*argv: str) -> settings.Settings:
        parser = argparse.ArgumentParser()
        settings.add_arguments(parser)
        return settings.from_args(parser.parse_args(list(argv)))

    assert parse().retry_policy == Policy(max_attempts=5, backoff=2.0, max_backoff=60.0)
    assert parse("--retry-max-attempts", "3", "--retry-backoff", "50ms", "--retry-max-backoff", "1s").retry_policy == \
        Policy(3, 0.05, 1.0)
    monkeypatch.setenv("WBAUTO_RETRY_BACKOFF", "10s")
    assert parse().retry_policy.backoff == 10.0
    for bad in (["--retry-max-attempts", "0"], ["--retry-max-attempts", "101"], ["--retry-backoff", "2m"],
                ["--retry-backoff", "0s"]):
        with pytest.raises(ConfigError, match="retry settings"):
            parse(*bad)
