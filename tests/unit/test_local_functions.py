"""The local runtime runs the handlers as Lambda does, call after call in one process."""

import json
import threading
import time

from happypath.observability import metrics


def test_a_handler_is_called_past_a_hundred_times_with_its_metrics_going_nowhere(app, monkeypatch):
    """`serve` disables metrics (they have nowhere to go), and its process may have no namespace. Each call's
    metrics are dropped after it, as Lambda's flush would: kept, a metric's values would pile up across calls
    until its 100th, which Powertools writes out in the middle of a call, failing it after its work was done."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "1")
    monkeypatch.setattr(metrics, "namespace", None)
    for call in range(105):  # the sweeper records two metrics a call
        payload, errored, _ = app.invoker.invoke("happypath-SweeperFunction", {})
        assert not errored, (call, payload)
    assert metrics.metric_set == {}


def test_a_call_that_timed_out_holds_its_function_until_its_handler_returns(app, monkeypatch):
    """Lambda ends a call that timed out with its sandbox; locally its thread runs on. The function's next call
    waits for it rather than run beside it (handlers keep per-request state in globals), as long as it may run
    itself."""
    running: list[int] = []
    overlapped: list[int] = []
    let_the_first_go = threading.Event()

    def handler(event, context):
        if running:
            overlapped.append(event["call"])
        running.append(event["call"])
        if event["call"] == 1:
            let_the_first_go.wait(10)
        running.remove(event["call"])
        return {"call": event["call"]}

    def invoke(call: int) -> tuple[str, bool, str]:
        return app.invoker.invoke("happypath-DiscardImagesFunction", {"call": call})

    monkeypatch.setattr(app.invoker, "handler_for", lambda function: handler)
    monkeypatch.setitem(app.invoker.timeouts, "DiscardImagesFunction", 0.2)
    payload, errored, _ = invoke(1)
    assert errored
    assert json.loads(payload)["errorType"] == "Sandbox.Timedout"
    assert app.invoker._function_locks["DiscardImagesFunction"].locked()  # the late call still runs

    # A call that may not wait as long as the late one runs: refused as Lambda refuses a busy function.
    payload, errored, _ = invoke(2)
    assert errored
    assert json.loads(payload)["errorType"] == "TooManyRequestsException"

    monkeypatch.setitem(app.invoker.timeouts, "DiscardImagesFunction", 10)
    answers: list[tuple[str, bool, str]] = []
    third = threading.Thread(target=lambda: answers.append(invoke(3)))
    third.start()
    time.sleep(0.5)
    assert running == [1], "the third call ran while the first one's handler was still running"
    let_the_first_go.set()
    third.join(10)
    assert answers == [(json.dumps({"call": 3}), False, "")]
    assert overlapped == []
    assert not app.invoker._function_locks["DiscardImagesFunction"].locked()
