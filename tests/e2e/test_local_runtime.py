"""The local Lambda runtime and gateway when a function misbehaves: Lambda's and API Gateway's
answers (502, 504), and a broken execution environment never reused."""

import json
import os
import textwrap
import threading
from pathlib import Path

import pytest
import urllib3

from local.emulator.api import LocalApi
from local.emulator.functions import FunctionPool, FunctionSpec, FunctionTimeout, InvocationError
from local.emulator.template import Route

HANDLER = textwrap.dedent(
    """
    import json, os, sys, time

    def lambda_handler(event, context):
        print("log line: stdout is the function's log, never the result")
        action = event.get("action")
        if action == "raise":
            raise RuntimeError("boom")
        if action == "sleep":
            time.sleep(event["seconds"])
        if action == "exit":
            os._exit(3)
        if action == "not_json":
            return {"statusCode": 200, "body": object()}
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps({"pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis()}),
        }
    """
)


@pytest.fixture
def pool(tmp_path: Path):
    code = tmp_path / "function"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    spec = FunctionSpec(
        name="Scratch",
        code_dir=code,
        handler="app.lambda_handler",
        layer_dirs=(),
        environment={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        timeout_seconds=1.0,
        memory_mb=128,
        log_path=tmp_path / "Scratch.log",
    )
    running = FunctionPool(spec, max_environments=2)
    yield running
    running.stop()


def _pid(result: dict) -> int:
    return json.loads(result["body"])["pid"]


def test_a_warm_environment_is_reused_and_its_logs_stay_out_of_the_result(pool):
    first = pool.invoke({})
    second = pool.invoke({})

    assert first["statusCode"] == 201
    assert _pid(first) == _pid(second)
    assert 0 < json.loads(first["body"])["remaining_ms"] <= 1000
    assert "log line" in pool.spec.log_path.read_text()


@pytest.mark.parametrize(
    "event, error",
    [
        ({"action": "raise"}, InvocationError),
        ({"action": "exit"}, InvocationError),
        ({"action": "not_json"}, InvocationError),
        ({"action": "sleep", "seconds": 5}, FunctionTimeout),
    ],
    ids=["raises", "exits", "returns-non-json", "times-out"],
)
def test_a_failed_invocation_is_an_error_and_the_next_one_works(pool, event, error):
    with pytest.raises(error):
        pool.invoke(event)

    assert pool.invoke({})["statusCode"] == 201


def test_an_environment_that_timed_out_is_never_reused(pool):
    before = _pid(pool.invoke({}))
    with pytest.raises(FunctionTimeout):
        pool.invoke({"action": "sleep", "seconds": 5})

    assert _pid(pool.invoke({})) != before


def test_at_most_max_environments_run_at_once(pool):
    results = []
    threads = [threading.Thread(target=lambda: results.append(_pid(pool.invoke({})))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 6
    assert len(set(results)) <= 2


@pytest.fixture
def gateway(pool):
    route = Route(function="Scratch", method="POST", path="/things/{thing_id}", code_uri="", handler="")
    api = LocalApi([route], lambda function, event: pool.invoke(json.loads(event["body"] or "{}")), port=0).start()
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=10.0))
    yield lambda body: http.request("POST", f"{api.url}/things/1", body=json.dumps(body))
    http.clear()
    api.stop()


@pytest.mark.parametrize(
    "event, status, message",
    [
        ({"action": "raise"}, 502, "Internal server error"),
        ({"action": "exit"}, 502, "Internal server error"),
        ({"action": "sleep", "seconds": 5}, 504, "Endpoint request timed out"),
    ],
    ids=["raises", "exits", "times-out"],
)
def test_the_gateway_answers_like_api_gateway_when_the_function_fails(gateway, event, status, message):
    response = gateway(event)

    assert response.status == status
    assert json.loads(response.data) == {"message": message}


def test_the_gateway_returns_the_proxy_response_with_every_header(gateway):
    response = gateway({})

    assert response.status == 201
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
