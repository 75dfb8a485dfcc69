"""The outbox journal's replay (pure): the latest state of each execution from its segments in order."""

from __future__ import annotations

import json

from wbauto.runtime.cluster import journal


def body(name: str, phase: str = "Pending", namespace: str = "team") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"x": name}, "status": {"phase": phase}}


def test_status_entries_apply_in_segment_order_and_mentions_are_tracked() -> None:
    one = "\n".join([journal.record_entry(body("a")), journal.record_entry(body("b"))])
    two = "\n".join([journal.status_entry(("team", "a"), {"phase": "Finished", "attempts": 1}),
                     journal.record_entry(body("c", "Skipped"))])
    bodies, mentions = journal.replay([("wbauto-journal-0000000001", one), ("wbauto-journal-0000000002", two)])
    assert {k: v["status"] for k, v in bodies.items()} == {
        ("team", "a"): {"phase": "Finished", "attempts": 1}, ("team", "b"): {"phase": "Pending"},
        ("team", "c"): {"phase": "Skipped"}}
    assert bodies[("team", "a")]["spec"] == {"x": "a"}  # a status entry keeps the record's spec
    assert mentions == {"wbauto-journal-0000000001": {("team", "a"), ("team", "b")},
                        "wbauto-journal-0000000002": {("team", "a"), ("team", "c")}}


def test_a_status_without_its_record_is_ignored_and_bad_lines_are_skipped() -> None:
    # the record's segment was deleted once the execution had its own object: its later status is moot
    text = "\n".join([journal.status_entry(("team", "gone"), {"phase": "Finished"}), "{not json", '{"k": 1}',
                      json.dumps({"r": {"metadata": {}}}), journal.record_entry(body("kept"))])
    bodies, mentions = journal.replay([("wbauto-journal-0000000007", text)])
    assert list(bodies) == [("team", "kept")]
    assert mentions["wbauto-journal-0000000007"] == {("team", "gone"), ("team", "kept")}


def test_the_same_name_in_two_namespaces_is_two_executions() -> None:
    text = "\n".join([journal.record_entry(body("a", namespace="x")), journal.record_entry(body("a", namespace="y")),
                      journal.status_entry(("y", "a"), {"phase": "Failed"})])
    bodies, _ = journal.replay([("j-0000000001", text)])
    assert bodies[("x", "a")]["status"] == {"phase": "Pending"}
    assert bodies[("y", "a")]["status"] == {"phase": "Failed"}


def test_sequence_numbers_order_segments() -> None:
    names = ["wbauto-leader-journal-0000000010", "wbauto-leader-journal-0000000002", "odd"]
    assert sorted(names, key=journal.sequence_of) == ["odd", "wbauto-leader-journal-0000000002",
                                                      "wbauto-leader-journal-0000000010"]


def test_retention_keeps_the_newest_and_the_dedupe_horizon() -> None:
    import datetime

    from wbauto.runtime.cluster import store

    now = datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC)
    hours = [1, 2, 50, 60, 200]  # created this many hours ago
    entries = [(now - datetime.timedelta(hours=h), h != 60, f"h{h}") for h in hours]  # h60 still Pending
    horizon, cutoff = now - datetime.timedelta(hours=48), now - datetime.timedelta(hours=168)
    # keep 1: h2 is young (dedupe record), h60 is Pending, h200 is past the cutoff anyway
    assert store.expired(entries, 1, cutoff, horizon) == ["h50", "h200"]
    assert store.expired(entries, 10, cutoff, horizon) == ["h200"]


def test_arrivals_measure_the_last_whole_second() -> None:
    from wbauto.runtime.cluster.store import Arrivals

    arrivals = Arrivals()
    assert arrivals.rate(100.0) == 0
    for i in range(60):
        arrivals.note(100.0 + i / 100)  # 60 in 0.6 s
    assert arrivals.rate(100.7) == 60
    arrivals.note(101.1)
    assert arrivals.rate(101.2) == 60, "the previous whole second still counts"
    assert arrivals.rate(102.5) == 1, "a second later only the last window is left"
    assert arrivals.rate(103.0) == 0, "quiet: the history writers resume"
    arrivals.note(110.0)
    assert arrivals.rate(110.0) == 1, "a gap of seconds forgets the burst"


def test_last_execution_patches_are_paced_when_many_automations_fire() -> None:
    from wbauto.runtime.cluster.reporter import KubeExecutionReporter as Reporter

    rate = Reporter.PATCHES_PER_SECOND
    assert Reporter.pace(1, 1.0) == 0.0, "one Automation: no wait"
    assert Reporter.pace(100, 0.5) == 100 / rate - 0.5, "100 patched in 0.5 s: wait until the rate is met"
    assert Reporter.pace(1000, 100.0) == 0.0
