"""The local HTTP API keeps the template's stage throttle, with API Gateway's answer, unless lifted."""

from collections import Counter

from werkzeug.test import Client

from happypath_local.gateway import ApiGateway

BURST = 100  # template.yaml: ThrottlingBurstLimit


def answers(gateway: ApiGateway, count: int) -> Counter[int]:
    client = Client(gateway)
    return Counter(client.get("/no-such-route").status_code for _ in range(count))


def test_requests_past_the_burst_are_refused_with_429(app):
    gateway = ApiGateway(app.stack, app.invoker)
    codes = answers(gateway, BURST + 50)  # far faster than the 50/s refill
    assert codes[404] >= BURST  # admitted (and then not found: no function runs)
    assert 40 <= codes[429] <= 50
    response = Client(gateway).get("/no-such-route")
    assert response.status_code == 429
    assert response.json == {"message": "Too Many Requests"}


def test_the_throttle_can_be_lifted_for_load_tests(app):
    assert answers(ApiGateway(app.stack, app.invoker, throttle=False), BURST + 50) == Counter({404: BURST + 50})
