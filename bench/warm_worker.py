"""Warm cost per request, in one fresh process with Lambda's path (layer, then runtime packages):
our two handlers and the baseline's, each warmed up, then timed in alternating chunks on the same
routes. CPU is time.process_time(): moto and the ETpay sandbox run in other processes.

usage: python -I -S warm_worker.py PLAN_JSON RESULT_JSON RUNTIME_DIR PATH [PATH ...]
The plan names each side's handler file per route and its events (warm-up ones first).
"""

import importlib.util
import json
import statistics
import sys
import time
from collections import Counter

plan_path, result_path, runtime_dir, *code_paths = sys.argv[1:]
sys.path[:0] = code_paths
sys.path.append(runtime_dir)

import boto3  # noqa: E402

with open(plan_path, encoding="utf-8") as handle:
    plan = json.load(handle)

# Every AWS call either side makes, counted by route and side (botocore's own event hook, on the
# default session every client here is built from; both sides pay its few microseconds).
calls: dict[str, Counter] = {}
current = {"label": None}


def _count(params, model, **_):
    counter = calls.setdefault(current["label"], Counter())
    operation = f"{model.service_model.service_name}:{model.name}"
    counter[operation] += 1
    for item in params.get("TransactItems", ()):
        counter[f"{operation}:{next(iter(item))}"] += 1


boto3.setup_default_session()
boto3.DEFAULT_SESSION.events.register("before-parameter-build", _count)


class Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench-warm-request"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 20_000


def load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


handlers = {}
for route in plan["routes"]:
    for path in route["handlers"].values():
        if path not in handlers:
            handlers[path] = load(path, f"handler_{len(handlers)}").lambda_handler


def serve(route: dict, side: str, events: list[dict]) -> None:
    handler = handlers[route["handlers"][side]]
    current["label"] = f"{route['name']}|{side}"
    for event in events:
        response = handler(event, Context())
        if response["statusCode"] not in route["status"]:
            raise SystemExit(f"{route['name']} ({side}) answered {response['statusCode']}: {response.get('body')}")
        answers.setdefault(f"{route['name']}|{side}", []).append(response)


def notifications_for(route_name: str, side: str) -> list[dict]:
    """A paid notification for each session `route_name` opened, in order; built untimed."""
    import copy

    import jwt

    dynamodb = boto3.client("dynamodb")
    events = []
    for response in answers[f"{route_name}|{side}"]:
        body = json.loads(response["body"])
        order = dynamodb.get_item(
            TableName=plan["table"], Key={"pk": {"S": "ORDER#" + body["merchant_order_id"]}}, ConsistentRead=True
        )["Item"]
        item = order["sessions"]["M"][body["session_token"]]["M"]
        claims = dict(
            plan["claims_template"],
            session_token=body["session_token"],
            merchant_order_id=body["merchant_order_id"],
            merchant_amount=body["order_amount"],
            payment_token=f"pay-{len(events)}-{body['session_token'][:12]}",
            iat=int(time.time()),
        )
        event = copy.deepcopy(plan["notification_template"])
        event["body"] = json.dumps({"payment": jwt.encode(claims, item["signature_token"]["S"], algorithm="HS256")})
        events.append(event)
    return events


answers: dict[str, list[dict]] = {}
results = {}
for route in plan["routes"]:
    warmup, chunk, chunks = plan["warmup"], plan["chunk"], plan["chunks"]
    if route["events"] is None:
        current["label"] = "setup"
        route["events"] = {side: notifications_for(route["notifies"], side) for side in route["handlers"]}
    samples = {side: {"cpu": [], "wall": []} for side in route["handlers"]}
    for side, events in route["events"].items():
        serve(route, side, events[:warmup])
    calls.clear()
    sides = list(route["handlers"])
    for index in range(chunks):
        # Alternate who goes first, so neither side always runs on a just-warmed cache.
        for side in sides if index % 2 == 0 else reversed(sides):
            events = route["events"][side][warmup + index * chunk : warmup + (index + 1) * chunk]
            c0, w0 = time.process_time(), time.perf_counter()
            serve(route, side, events)
            samples[side]["cpu"].append((time.process_time() - c0) * 1000 / len(events))
            samples[side]["wall"].append((time.perf_counter() - w0) * 1000 / len(events))
    results[route["name"]] = {
        side: {
            "requests": chunk * chunks,
            "cpu_ms": statistics.median(values["cpu"]),
            "wall_ms": statistics.median(values["wall"]),
            "cpu_ms_mean": statistics.fmean(values["cpu"]),
            "answers": {
                str(status): count
                for status, count in Counter(
                    response["statusCode"] for response in answers.get(f"{route['name']}|{side}", [])[warmup:]
                ).items()
            },
            "aws_calls_per_request": {
                operation: count / (chunk * chunks)
                for operation, count in sorted(calls.get(f"{route['name']}|{side}", Counter()).items())
            },
        }
        for side, values in samples.items()
    }

with open(result_path, "w", encoding="utf-8") as handle:
    json.dump(results, handle)
