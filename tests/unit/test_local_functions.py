"""The local runtime runs the handlers as Lambda does, call after call in one process."""

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
