"""Log hygiene: drive every main flow through the handlers, capture every log line they produce
(Powertools' JSON on stdout, the metrics it prints, and every `logging` record at DEBUG, the most a
deployment can turn on) and fail if a secret or a piece of payer data is anywhere in it: the
merchant_api_token, a session's signature_token, a raw JWT or its parts, the payer's RUT, email
or account numbers. HTTP replies are held to the same rule."""

import base64
import io
import json
import logging
import os
import secrets
import traceback
import uuid

import boto3
import jwt
import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from etpay.notification import sign_notification
from payments.adapters.aws import DYNAMODB_MAX_ATTEMPTS
from payments.config import wiring
from tests.support.api import LambdaContext, load_handler, new_order_id, session_payload
from tests.support.aws import MERCHANT_API_TOKEN, NOTIFICATION_KEY, REGION, SECRET_ID, TABLE_NAME
from tests.support.logs import emitted_metrics

# The sandbox logs for itself; it is not the product under test.
NOT_PRODUCT_LOGGERS = ("etpay_sandbox",)
# A key an attacker might try: it must not be echoed into a log line either.
WRONG_NOTIFICATION_KEY = "a-wrong-notification-key-" + uuid.uuid4().hex
# Shorter fragments could match by chance (e.g. the signature part of "abc.def.ghi").
MIN_SECRET_LENGTH = 16
STANDARD_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class LogCapture(logging.Handler):
    """Every record any logger handles, rendered every way it could end up in a log line:
    message, arguments, extra keys, traceback, and Powertools' own JSON rendering. Attached to
    every logger, so a propagating record is rendered more than once: harmless here."""

    def __init__(self):
        super().__init__(level=logging.NOTSET)
        self.rendered: list[str] = []
        self.records: list[logging.LogRecord] = []
        self._json = LambdaPowertoolsFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(NOT_PRODUCT_LOGGERS):
            return
        self.records.append(record)
        parts = [record.name, repr(record.msg), repr(record.args)]
        try:
            parts.append(record.getMessage())
        except (TypeError, ValueError):
            pass
        extras = {name: value for name, value in vars(record).items() if name not in STANDARD_RECORD_FIELDS}
        parts.append(json.dumps(extras, default=str))
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        if record.stack_info:
            parts.append(record.stack_info)
        parts.append(self._json.format(record))
        self.rendered.append("\n".join(parts))


@pytest.fixture
def captured_logs(capsys):
    """Attach to every logger, send every stream handler's output (Powertools' JSON lines) to a
    buffer, and lift the service's loggers to DEBUG (the template's most verbose LogLevel).
    Yields a function returning (rendered records, how many distinct records, stream handler
    output, stdout + stderr)."""
    capture = LogCapture()
    stream = io.StringIO()
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    service_name = os.environ["POWERTOOLS_SERVICE_NAME"]
    levels, streams = {}, {}
    for logger in loggers:
        logger.addHandler(capture)
        if logger.name == service_name or logger.name.startswith(service_name + "."):
            levels[logger] = logger.level
            logger.setLevel(logging.DEBUG)
        for handler in logger.handlers:
            # pytest's own capture handlers are StreamHandlers too: leave them be.
            is_pytest = type(handler).__module__.startswith("_pytest")
            if isinstance(handler, logging.StreamHandler) and not is_pytest and handler not in streams:
                streams[handler] = handler.setStream(stream)
    capsys.readouterr()

    def read() -> tuple[list[str], int, str, str]:
        out, err = capsys.readouterr()
        distinct = len({id(record) for record in capture.records})  # the list keeps them alive
        return list(capture.rendered), distinct, stream.getvalue(), out + err

    yield read

    for logger in loggers:
        logger.removeHandler(capture)
    for logger, level in levels.items():
        logger.setLevel(level)
    for handler, previous in streams.items():
        handler.setStream(previous)


@pytest.fixture(scope="module")
def reconcile_handler():
    return load_handler("reconcile")


class World:
    """What the flows handed out: the values that must never be logged, and every HTTP reply."""

    def __init__(self, api, sandbox):
        self.api = api
        self.sandbox = sandbox
        suffix = uuid.uuid4().hex[:10]
        self.rut = f"2{secrets.randbelow(10**7):07d}K"
        self.email = f"payer-{suffix}@example.com"
        self.user_account = f"4{secrets.randbelow(10**11):011d}"
        self.merchant_account = f"7{secrets.randbelow(10**11):011d}"
        self.jwts: list[str] = []
        self.replies: list = []
        self.order_ids: list[str] = []

    def order(self) -> str:
        merchant_order_id = new_order_id()
        self.order_ids.append(merchant_order_id)
        return merchant_order_id

    def reply(self, reply, *expected: int):
        self.replies.append(reply)
        assert reply.status in expected, reply.body
        return reply

    def open(self, merchant_order_id: str, amount: int = 50_000) -> str:
        payload = session_payload(
            merchant_order_id,
            amount,
            user_rut=self.rut,
            is_rut_block=True,
            customer_email=self.email,
            metadata=[{"name": "Pedido", "value": merchant_order_id, "show": True}],
        )
        return self.reply(self.api.create_session(payload), 201, 200).body["session_token"]

    def signed(self, session_token: str, outcome, **claims) -> str:
        """A notification carrying this world's payer data, signed with the session's key."""
        token = self.sandbox.notification_jwt(
            session_token,
            outcome,
            user_account=self.user_account,
            merchant_account=self.merchant_account,
            **claims,
        )
        self.jwts.append(token)
        return token

    def notify(self, token: str, *expected: int, **kwargs):
        self.jwts.append(token)
        if kwargs:
            return self.reply(self.api.notify(token, **kwargs), *expected)
        return self.reply(self.api.notify_jwt(token), *expected)

    def forbidden(self, session_tokens) -> dict[str, str]:
        values = {
            "merchant_api_token": MERCHANT_API_TOKEN,
            "notification key": NOTIFICATION_KEY,
            "wrong notification key": WRONG_NOTIFICATION_KEY,
            "user_rut": self.rut,
            "customer_email": self.email,
            "user_account": self.user_account,
            "merchant_account": self.merchant_account,
        }
        for name in ("user_account", "merchant_account"):
            # The sandbox's own account claims, in the notifications complete() signs.
            values[f"sandbox {name}"] = self.sandbox.payment(self.sandbox.session(session_tokens[0]))[name]
        for token in session_tokens:
            values[f"signature_token of {token}"] = self.sandbox.session(token).signature_token
        for index, token in enumerate(self.jwts):
            parts = token.split(".")
            candidates = {"jwt": token}
            if len(parts) == 3:
                candidates.update(payload=parts[1], signature=parts[2])
            for part, value in candidates.items():
                if len(value) >= MIN_SECRET_LENGTH:
                    values[f"{part} of JWT #{index}"] = value
        return values


def forged_notifications(world: World, session_token: str) -> list[str]:
    genuine = world.signed(session_token, "paid")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    header, payload, signature = genuine.split(".")
    tampered = dict(claims, merchant_amount=1)
    tampered_payload = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=").decode()
    unknown = dict(claims, session_token="no-such-session-" + uuid.uuid4().hex)
    return [
        sign_notification(claims, "not-the-signature-token-" + uuid.uuid4().hex),
        jwt.encode(claims, "", algorithm="none"),  # PyJWT makes "" None for alg none (its types want a str)
        f"{header}.{tampered_payload}.{signature}",
        jwt.encode(claims, session_token, algorithm="HS256"),
        sign_notification(unknown, "k" * 40),
        f"{header}.{payload}.{signature[:-4]}AAAA",
    ]


def put_secret(monkeypatch, name: str, secret_string: str) -> None:
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name=name, SecretString=secret_string)
    use_secret(monkeypatch, name)


def use_secret(monkeypatch, name: str) -> None:
    monkeypatch.setenv("ETPAY_SECRET_ID", name)
    wiring.reset()


def test_no_secret_or_payer_data_reaches_a_log_line(
    api, stack, aws_faults, reconcile_handler, monkeypatch, captured_logs, record_property
):
    world = World(api, stack)
    sessions_before = set(stack.sessions)

    # A paid order: session (reused once), paid, re-delivered, then a contradicting failure.
    paid_order = world.order()
    paid_token = world.open(paid_order)
    world.open(paid_order)
    paid = world.signed(paid_token, "paid")
    world.notify(paid, 200)
    world.notify(paid, 200)
    world.notify(world.signed(paid_token, "failed"), 200)
    world.reply(api.get_order(paid_order), 200)

    # A failed order: failed, then paid for the failed session (flagged), then a new session.
    failed_order = world.order()
    failed_token = world.open(failed_order)
    world.notify(world.signed(failed_token, "failed"), 200, content_type="text/plain")
    world.notify(f"payment={world.signed(failed_token, 'paid')}", 200, content_type="application/x-www-form-urlencoded")
    world.open(failed_order)

    # A signed notification that disagrees with the order, and one with an unpublished status.
    mismatch_order = world.order()
    mismatch_token = world.open(mismatch_order)
    world.notify(world.signed(mismatch_token, "paid", merchant_amount=49_999), 200)
    world.notify(world.signed(mismatch_token, "processing"), 200)

    # Forged notifications, a wrong and a missing notification key, a body without a JWT and an
    # oversized one.
    for forged in forged_notifications(world, mismatch_token):
        world.notify(forged, 401)
    genuine = world.signed(mismatch_token, "paid")
    world.notify(json.dumps({"payment": genuine}), 401, key=WRONG_NOTIFICATION_KEY)
    world.notify(json.dumps({"payment": genuine}), 401, key=None)
    world.reply(api.notify(json.dumps({"payment": "", "user_rut": world.rut})), 400)
    oversized = world.signed(mismatch_token, "paid")
    world.notify(json.dumps({"payment": oversized, "padding": "x" * 20_000}), 400, content_type="application/json")

    # DynamoDB throttles the transition: 503, and ETpay's retry succeeds.
    throttled_order = world.order()
    throttled = world.signed(world.open(throttled_order), "paid")
    aws_faults.fail_next(
        "dynamodb", "UpdateItem", "ProvisionedThroughputExceededException", times=DYNAMODB_MAX_ATTEMPTS
    )
    world.notify(throttled, 503)
    world.notify(throttled, 200)

    # ETpay fails in every way it can while opening a session.
    for mode, status in (("error", 500), ("error", 401), ("malformed", 500), ("incomplete", 500)):
        stack.fail_next_initialize(mode, status=status)
        world.reply(api.create_session(session_payload(world.order(), user_rut=world.rut)), 502)

    # Reconciliation: the notification never came, ETpay's status API says paid; the sweep hands
    # its check out (made due now) and a worker settles it.
    reconciled_order = world.order()
    reconciled_token = world.open(reconciled_order)
    world.jwts.append(stack.complete(reconciled_token, "paid", deliver=False)["jwt"])
    queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName=f"checks-{uuid.uuid4().hex}")["QueueUrl"]
    monkeypatch.setenv("RECONCILE_QUEUE_URL", queue_url)
    wiring.reset()
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"ORDER#{reconciled_order}"}},
        UpdateExpression="SET next_check_at = :past",
        ExpressionAttributeValues={":past": {"S": "2000-01-01T00:00:00.000Z"}},
    )
    assert reconcile_handler.lambda_handler({"source": "aws.scheduler"}, LambdaContext())["handed_out"] == 1
    messages = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=queue_url)["Messages"]
    worker = load_handler("reconcile_worker")
    sqs_records = [{"messageId": message["MessageId"], "body": message["Body"]} for message in messages]
    assert worker.lambda_handler({"Records": sqs_records}, LambdaContext()) == {"batchItemFailures": []}
    assert world.reply(api.get_order(reconciled_order), 200).body["status"] == "PAID"

    # The secret is missing, not JSON, incomplete, or points at an ETpay that is down.
    use_secret(monkeypatch, "etpay/no-such-secret")
    world.reply(api.create_session(session_payload(world.order(), user_rut=world.rut)), 503)
    put_secret(monkeypatch, "etpay/not-json", f'{{"merchant_api_token": "{MERCHANT_API_TOKEN}", ')
    world.reply(api.create_session(session_payload(world.order(), user_rut=world.rut)), 503)
    incomplete = {"merchant_code": "m", "merchant_api_token": MERCHANT_API_TOKEN, "api_url": "http://etpay.example"}
    put_secret(monkeypatch, "etpay/incomplete", json.dumps(incomplete))
    world.reply(api.create_session(session_payload(world.order(), user_rut=world.rut)), 503)
    down = {**stack.credentials(), "api_url": "http://127.0.0.1:9"}
    put_secret(monkeypatch, "etpay/etpay-down", json.dumps(down))
    world.reply(api.create_session(session_payload(world.order(), user_rut=world.rut)), 502)
    use_secret(monkeypatch, SECRET_ID)

    rendered, distinct_records, stream, stdout = captured_logs()
    records = "\n".join(rendered)
    everything = "\n".join((records, stream, stdout))
    replies = "\n".join(json.dumps({"body": r.body, "headers": r.headers}, default=str) for r in world.replies)

    # The capture works: it saw the flows above, through records, the JSON stream and stdout.
    assert records and stream and stdout
    for merchant_order_id in world.order_ids:
        assert merchant_order_id in stream, f"no log line about order {merchant_order_id}"
    for message in (
        "payment session opened",
        "order paid",
        "payment session failed",
        "order flagged for review",
        "notification rejected",
        "unknown payment_status",
        "DynamoDB call failed",
        "ETpay session creation failed",
        "secret unreadable",
        "secret incomplete",
        "reconciliation sweep",
        "status checks",
    ):
        assert message in records, f"nothing logged {message!r}"
    assert '"level":"ERROR"' in stream
    # Every line of an API request names it as API Gateway's access log does, and its caller.
    request_messages = ('"payment session opened"', '"notification rejected"', '"notification already applied"')
    request_lines = [json.loads(line) for line in stream.splitlines() if any(m in line for m in request_messages)]
    assert len(request_lines) >= 10
    for line in request_lines:
        assert line.get("api_request_id") and line.get("source_ip") == "127.0.0.1", line
    assert {"OrderPaid", "NotificationRejected", "EtpayError"} <= set(emitted_metrics(stdout))

    # ... and none of it carries a secret or payer data.
    new_sessions = [token for token in stack.sessions if token not in sessions_before]
    assert len(new_sessions) >= 6
    forbidden = world.forbidden(new_sessions)
    record_property("forbidden_values", len(forbidden))
    record_property("log_records", distinct_records)
    record_property("json_log_lines", len(stream.splitlines()))
    record_property("replies", len(world.replies))
    leaks = {name for name, value in forbidden.items() if value in everything}
    assert not leaks, f"logged: {sorted(leaks)}"
    leaks = {name for name, value in forbidden.items() if value in replies}
    assert not leaks, f"answered over HTTP: {sorted(leaks)}"


class MexicanWorld(World):
    """The flows of an MXN stack: every session carries the payer's phone (and Mexico's other fields)."""

    def __init__(self, api, sandbox):
        super().__init__(api, sandbox)
        self.phone = f"55{secrets.randbelow(10**8):08d}"

    def open(self, merchant_order_id: str, amount: int = 1_500) -> str:
        payload = session_payload(
            merchant_order_id,
            amount,
            target_flow="spei",
            customer_phone=self.phone,
            user_bank_code="mx_bbva",
            customer_email=self.email,
            metadata=[{"name": "Pedido", "value": merchant_order_id, "show": True}],
        )
        return self.reply(self.api.create_session(payload), 201, 200).body["session_token"]

    def forbidden(self, session_tokens) -> dict[str, str]:
        return {**super().forbidden(session_tokens), "customer_phone": self.phone}


def test_the_payers_phone_never_reaches_a_log_line_or_an_answer(api, mx_stack, aws_faults, captured_logs):
    world = MexicanWorld(api, mx_stack)
    sessions_before = set(mx_stack.sessions)

    # A paid order (its session reused once, the notification re-delivered), a failed one reopened,
    # and a signed notification that disagrees with its order.
    paid_order = world.order()
    paid_token = world.open(paid_order)
    world.open(paid_order)
    paid = world.signed(paid_token, "paid")
    world.notify(paid, 200)
    world.notify(paid, 200)
    world.reply(api.get_order(paid_order), 200)
    failed_order = world.order()
    world.notify(world.signed(world.open(failed_order), "failed"), 200)
    world.open(failed_order)
    mismatch_order = world.order()
    world.notify(world.signed(world.open(mismatch_order), "paid", merchant_amount=1), 200)

    # The phone refused: too long, with a country code, on a request of the wrong amount, beside a
    # Chilean field; and a session request DynamoDB throttles.
    for bad in (
        {"customer_phone": world.phone + "1"},
        {"customer_phone": "+52" + world.phone},
        {"customer_phone": world.phone, "order_amount": 199.5},
        {"customer_phone": world.phone, "user_rut": world.rut},
    ):
        world.reply(api.create_session({**session_payload(world.order(), 1_500), **bad}), 400)
    aws_faults.fail_next("dynamodb", "PutItem", "ProvisionedThroughputExceededException", times=DYNAMODB_MAX_ATTEMPTS)
    world.reply(
        api.create_session(session_payload(world.order(), 1_500, customer_phone=world.phone, target_flow="codi")),
        503,
    )

    # ETpay Mexico fails in every way it can while opening a session that carries the phone.
    for mode, status in (("error", 500), ("error", 400), ("malformed", 500), ("incomplete", 500)):
        mx_stack.fail_next_initialize(mode, status=status)
        world.reply(api.create_session(session_payload(world.order(), 1_500, customer_phone=world.phone)), 502)

    rendered, _, stream, stdout = captured_logs()
    everything = "\n".join((*rendered, stream, stdout))
    replies = "\n".join(json.dumps({"body": r.body, "headers": r.headers}, default=str) for r in world.replies)

    # The capture saw the flows ...
    assert "payment session opened" in everything and "order paid" in everything
    assert "ETpay session creation failed" in everything and "DynamoDB call failed" in everything
    # ... ETpay got the phone (it is for ETpay) ...
    assert any(
        isinstance(request, dict) and request.get("customer_phone") == world.phone
        for request in mx_stack.initialize_requests
    )
    # ... and neither a log line nor an answer carries it, nor any other secret or payer datum.
    forbidden = world.forbidden([token for token in mx_stack.sessions if token not in sessions_before])
    assert not {name for name, value in forbidden.items() if value in everything}
    assert not {name for name, value in forbidden.items() if value in replies}
