"""A webhook attempt ends at its deadline, however slowly the merchant's endpoint answers: an
endpoint that trickles its answer a byte at a time holds the attempt no longer than the deadline
(socket timeouts alone bound each read, not the attempt), and the attempts beside it in the batch
are delivered. The endpoint is a real HTTP server on 127.0.0.1."""

import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from payments.adapters.webhook_http import WebhookSender
from payments.domain.webhooks import TIMEOUT

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
TRICKLE_SECONDS = 0.2
DEADLINE_SECONDS = 0.5


class Endpoint(socketserver.ThreadingTCPServer):
    """Answers 200 and keeps the connection; the requests whose path ends in /slow get it a byte
    every TRICKLE_SECONDS. Counts the connections, and what it managed to send of each trickled
    answer before the client went away."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.trickled: list[int] = []
        self.connections = 0
        self.done = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(socketserver.StreamRequestHandler):
    server: Endpoint

    def handle(self) -> None:
        self.server.connections += 1
        while True:
            request_line = self.rfile.readline()
            if not request_line:
                return
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            self.rfile.read(2)  # the body: "{}"
            if request_line.split()[1].endswith(b"/slow"):
                self.trickle()
                return
            self.wfile.write(ANSWER)
            self.wfile.flush()

    def trickle(self) -> None:
        sent = 0
        try:
            for byte in ANSWER:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                sent += 1
                time.sleep(TRICKLE_SECONDS)
        except OSError:
            pass  # the client shut the connection
        self.server.trickled.append(sent)
        self.server.done.set()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_endpoint_trickling_its_answer_is_cut_off_at_the_deadline(endpoint):
    outcome = WebhookSender(timeout_seconds=DEADLINE_SECONDS).post(f"{endpoint.url}/slow", "{}", {})

    assert (outcome.delivered, outcome.error) == (False, TIMEOUT)
    # the endpoint saw the connection go before it could send the whole answer
    assert endpoint.done.wait(timeout=len(ANSWER) * TRICKLE_SECONDS)
    (sent,) = endpoint.trickled
    assert sent < len(ANSWER)


def test_the_other_attempts_of_a_batch_are_delivered_beside_a_slow_one(endpoint):
    sender = WebhookSender(timeout_seconds=DEADLINE_SECONDS)
    paths = ["/slow", "/a", "/b", "/c"]

    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        outcomes = list(pool.map(lambda path: sender.post(endpoint.url + path, "{}", {}), paths))

    assert [(outcome.delivered, outcome.error) for outcome in outcomes] == [
        (False, TIMEOUT),
        (True, None),
        (True, None),
        (True, None),
    ]


def test_a_connection_reused_from_the_pool_has_the_deadline_too(endpoint):
    # given a connection to the endpoint pooled by a delivered attempt
    sender = WebhookSender(timeout_seconds=DEADLINE_SECONDS)
    assert sender.post(endpoint.url + "/a", "{}", {}).delivered

    # when the next attempt, on that same connection, gets a slow answer
    outcome = sender.post(endpoint.url + "/slow", "{}", {})

    # then it is cut off as well
    assert endpoint.connections == 1
    assert outcome.error == TIMEOUT
