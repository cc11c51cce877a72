"""The AWS emulator's process: moto's server on 127.0.0.1 until stdin closes or SIGTERM.

Run by `aws.py` as `python -I -B moto_server.py --port N`. moto keeps its state in module
globals, so it gets a process of its own: nothing else (a test's in-process `mock_aws`, say) can
reset or read it. It prints one line, {"port": N}, once it is listening.
"""

import argparse
import json
import logging
import signal
import socket
import sys
import threading

from moto.server import ThreadedMotoServer


def _is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        # As the server itself binds: a port left in TIME_WAIT by a previous run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this stops
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (or a busy port) picks a free one")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call is noise
    # moto binds in its own thread and would wait forever on a busy port: check it first. The
    # parent sees the port it got and warns when it is not the one it asked for.
    port = args.port if args.port and _is_free(args.host, args.port) else 0
    server = ThreadedMotoServer(ip_address=args.host, port=port, verbose=False)
    server.start()

    def parent_gone() -> None:
        sys.stdin.read()  # returns when the parent closes stdin or exits
        stop.set()

    threading.Thread(target=parent_gone, daemon=True).start()
    print(json.dumps({"port": server.get_host_and_port()[1]}), flush=True)  # the line the parent reads
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
