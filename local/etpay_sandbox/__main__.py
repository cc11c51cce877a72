"""`python -m local.etpay_sandbox`: run the ETpay sandbox on 127.0.0.1 until SIGINT or SIGTERM."""

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from local.etpay_sandbox import EtpaySandbox, rules

DEFAULT_PORT = 8700


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.etpay_sandbox",
        description="A local ETpay stand-in: merchant API, payment funnel, status API, control API.",
    )
    parser.add_argument("--host", default="127.0.0.1", choices=sorted(rules.LOOPBACK_HOSTS))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--merchant-code", default="sandbox-merchant")
    parser.add_argument("--merchant-api-token", default="sandbox-api-token")
    parser.add_argument("--merchant-name", default="Sandbox Shop")
    parser.add_argument(
        "--currency",
        default=rules.DEFAULT_CURRENCY,
        choices=sorted(rules.COUNTRIES),
        help="the merchant's country: CLP (ETpay Chile) or MXN (ETpay Mexico: MX banks, SPEI and CoDi)",
    )
    parser.add_argument(
        "--credentials-file",
        type=Path,
        help="also write the credentials JSON (the Secrets Manager secret's value) to this file",
    )
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="answer HTTP/1.1 and keep connections open, as ETpay's HTTPS API does (benchmarks)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    sandbox = EtpaySandbox(
        merchant_code=args.merchant_code,
        merchant_api_token=args.merchant_api_token,
        host=args.host,
        port=args.port,
        merchant_name=args.merchant_name,
        currency=args.currency,
        keep_alive=args.keep_alive,
    )
    with sandbox:
        credentials = json.dumps(sandbox.credentials())
        if args.credentials_file:
            args.credentials_file.write_text(credentials + "\n")
            where = f"credentials={args.credentials_file}"
        else:
            where = f"credentials={credentials}"
        # The one line a developer (or a script) reads to find the sandbox; a local test credential.
        print(f"ETpay sandbox on {sandbox.base_url} {where}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
