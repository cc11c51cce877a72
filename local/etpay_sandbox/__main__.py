"""`python -m local.etpay_sandbox`: run the ETpay sandbox on 127.0.0.1 until Ctrl-C."""

import argparse
import json
import logging
import signal
import threading

from local.etpay_sandbox import EtpaySandbox


def main() -> None:
    parser = argparse.ArgumentParser(description="A local ETpay stand-in (API, funnel, control API).")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--merchant-code", default="sandbox-merchant")
    parser.add_argument("--merchant-api-token", default="sandbox-api-token")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with EtpaySandbox(args.merchant_code, args.merchant_api_token, port=args.port) as sandbox:
        print(f"ETpay sandbox on {sandbox.base_url}")  # noqa: T201 - CLI output
        print(f"secret value: {json.dumps(sandbox.credentials())}")  # noqa: T201 - CLI output
        stop.wait()


if __name__ == "__main__":
    main()
