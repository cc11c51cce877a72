"""Sequential ETpay session creations against the local sandbox with one client, timed.

usage: python etpay_client_worker.py {ours|sdk} CREDENTIALS_JSON COUNT WARMUP PREFIX
Prints one JSON line: elapsed wall and CPU seconds for COUNT creations after WARMUP untimed ones.
`ours` runs on the project's venv with the layer source on the path; `sdk` runs on bench/.venv-sdk
(etpay-sdk 1.0.1 + requests), which is the only place etpay-sdk is installed.
"""

import json
import sys
import time
import uuid


def ours(credentials: dict):
    import etpay

    client = etpay.EtpayClient(etpay.Credentials.from_mapping(credentials))

    def create(order_id: str, amount: int) -> str:
        return client.initialize_session(etpay.SessionRequest(merchant_order_id=order_id, order_amount=amount)).token

    return create


def sdk(credentials: dict):
    from etpay_sdk import Configs, TransactionParams, Transactions

    # The SDK takes the services base URL as `api_url` and appends /session/initialize itself.
    configs = Configs(credentials["merchant_code"], credentials["merchant_api_token"], credentials["api_url"])

    def create(order_id: str, amount: int) -> str:
        response = Transactions(configs, TransactionParams(merchant_order_id=order_id, order_amount=amount)).create()
        response.raise_for_status()
        return response.json()["token"]

    return create


def main() -> None:
    client_name, credentials_path, count, warmup, prefix = sys.argv[1:]
    with open(credentials_path, encoding="utf-8") as handle:
        credentials = json.load(handle)
    create = {"ours": ours, "sdk": sdk}[client_name](credentials)
    for _ in range(int(warmup)):
        create(f"{prefix}-{uuid.uuid4().hex[:16]}", 50_000)
    order_ids = [f"{prefix}-{uuid.uuid4().hex[:16]}" for _ in range(int(count))]
    c0, w0 = time.process_time(), time.perf_counter()
    for order_id in order_ids:
        if not create(order_id, 50_000):
            raise SystemExit("no session token")
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(json.dumps({"client": client_name, "count": int(count), "wall_s": wall, "cpu_s": cpu}))


if __name__ == "__main__":
    main()
