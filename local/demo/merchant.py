"""A tiny stand-in for the merchant's own web site: the page ETpay's funnel sends the payer back
to (`payment_completed_url`, `payment_cancellation_url`), showing the order's live status.

    GET /orders/{id}/completed   the page after Pay    (ETpay appends ?jwt=..., ignored here)
    GET /orders/{id}/cancelled   the page after Cancel
    GET /orders/{id}/status      JSON: the order's status as the merchant's backend reads it

The redirect back proves nothing about the payment: anyone can open these URLs, and the JWT
ETpay appends may be signed with the public session token (docs/ETPAY.md). So the page only
shows what the payments backend recorded from ETpay's signed notification: its status route
asks the local API's `GET /orders/{id}` over HTTP, as the merchant's backend would, and the page
polls that route every second until the order leaves PENDING. Reloading it is always safe.
"""

import json
import logging
import threading
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import urllib3

from local.emulator.processes import bind, serve_in_background, stop_serving

logger = logging.getLogger("local.merchant")

DEFAULT_MERCHANT_PORT = 8800
RETURN_PAGES = {"completed": "You pressed Pay at ETpay.", "cancelled": "You pressed Cancel at ETpay."}
# How often the page asks for the order's status while it is PENDING.
POLL_INTERVAL_MS = 1000
API_TIMEOUT = urllib3.Timeout(connect=2.0, read=30.0)
# What the status route passes on from the order (the order view holds tokens: never those).
SHOWN_FIELDS = ("merchant_order_id", "status", "order_amount", "currency")
STYLE = """
body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1d2433}
#status{font-size:1.6rem;font-weight:700} #status[data-status=PAID]{color:#0b7a3e}
#status[data-status=FAILED]{color:#a11} .note{color:#778;font-size:.85rem;margin-top:2rem}
"""
SCRIPT = """
const shown = document.getElementById("status");
async function poll() {
  try {
    const reply = await fetch("status", {cache: "no-store"});
    const order = await reply.json();
    shown.textContent = order.status || order.error || "unknown";
    shown.dataset.status = order.status || "";
    if (order.status && order.status !== "PENDING") return;
  } catch (error) {
    shown.textContent = "the local API does not answer";
  }
  setTimeout(poll, POLL_INTERVAL_MS);
}
poll();
""".replace("POLL_INTERVAL_MS", str(POLL_INTERVAL_MS))


class MerchantSite:
    """The merchant's pages on 127.0.0.1, reading orders from the local API at `api_url`."""

    def __init__(self, api_url: str, port: int = 0):
        self.api_url = api_url.rstrip("/")
        self._http = urllib3.PoolManager(retries=False, timeout=API_TIMEOUT)
        self.requested_port = port
        self._server = bind(lambda address: _Server(address, self), port)  # LocalStack warns about a move
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def return_urls(self, merchant_order_id: str) -> dict[str, str]:
        """The session fields that send the payer back to this site after Pay or Cancel."""
        order = f"{self.url}/orders/{quote(merchant_order_id, safe='')}"
        return {"payment_completed_url": f"{order}/completed", "payment_cancellation_url": f"{order}/cancelled"}

    def order_status(self, merchant_order_id: str) -> tuple[int, dict[str, Any]]:
        """GET /orders/{id} of the payments API, cut down to what a shop page shows."""
        try:
            response = self._http.request("GET", f"{self.api_url}/orders/{quote(merchant_order_id, safe='')}")
        except urllib3.exceptions.HTTPError as error:
            return 502, {"error": f"the payments API is unreachable ({type(error).__name__})"}
        try:
            order = json.loads(response.data)
        except ValueError:
            order = None
        if not isinstance(order, dict):
            return 502, {"error": f"the payments API answered {response.status} without JSON"}
        if response.status != 200:
            return response.status, {"error": order.get("error") or order.get("message") or "error"}
        return 200, {name: order.get(name) for name in SHOWN_FIELDS}

    def start(self) -> "MerchantSite":
        self._thread = serve_in_background(self._server, "merchant-site")
        return self

    def stop(self) -> None:
        stop_serving(self._server, self._thread)
        self._thread = None
        self._http.clear()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], site: MerchantSite):
        self.site = site
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "LocalMerchant/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
        # Path only: ETpay's redirect puts a JWT in the query string.
        logger.debug("%s %s", self.command, urlsplit(self.path).path)

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        parts = urlsplit(self.path).path.strip("/").split("/")
        site = self.server.site
        if len(parts) == 3 and parts[0] == "orders" and parts[1]:
            order_id, page = unquote(parts[1]), parts[2]
            if page == "status":
                status, body = site.order_status(order_id)
                return self._send(status, json.dumps(body).encode(), "application/json")
            if page in RETURN_PAGES:
                status, order = site.order_status(order_id)
                page_html = _page(order_id, page, order) if status != 404 else _unknown(order_id)
                return self._send(200 if status != 404 else 404, page_html.encode(), "text/html")
        self._send(404, b"<!doctype html><title>Not found</title><h1>No such page</h1>", "text/html")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


def _unknown(order_id: str) -> str:
    """The return page of an order the payments backend has no record of."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Unknown order</title><style>{STYLE}</style></head><body><h1>Demo shop</h1>"
        f"<p id='unknown'>This shop does not know order <b id='order'>{escape(order_id)}</b>: the payments "
        "backend has no record of it (a mistyped link, or an order of another stack). Nothing was paid "
        "for it here.</p></body></html>"
    )


def _page(order_id: str, page: str, order: dict[str, Any]) -> str:
    """The return page, already showing the status at render time (it works without JavaScript)."""
    status = order.get("status") or order.get("error") or "unknown"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Order {escape(order_id)}</title><style>{STYLE}</style></head><body>"
        "<h1>Demo shop</h1>"
        f"<p id='return' data-page='{escape(page)}'>{escape(RETURN_PAGES[page])} Coming back here proves "
        "nothing about the payment: this page shows what the payments backend recorded from "
        "ETpay's signed notification.</p>"
        f"<p>Order <b id='order'>{escape(order_id)}</b></p>"
        f"<p id='status' data-status='{escape(order.get('status') or '')}'>{escape(status)}</p>"
        f"<p class='note'>Read every second from <code>GET /orders/{escape(order_id)}</code> of the local "
        "API, until the order leaves PENDING. A local stand-in for the merchant's own site.</p>"
        f"<script>{SCRIPT}</script></body></html>"
    )
