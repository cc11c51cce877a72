"""Running one of the local stack's HTTP servers (the API, the merchant's pages, the merchant's
webhook receiver) on a daemon thread, and stopping it."""

import threading
from socketserver import BaseServer

# How often a serving thread looks for a shutdown request: stopping takes at most this long.
SHUTDOWN_POLL_SECONDS = 0.1


def serve_in_background(server: BaseServer, name: str) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, name=name, daemon=True
    )
    thread.start()
    return thread


def stop_serving(server: BaseServer, thread: threading.Thread | None) -> None:
    """Stop answering and close the socket: senders then see their connection refused."""
    if thread is not None:
        server.shutdown()
        thread.join()
    server.server_close()
