"""Moved to `local.emulator.dynamodb_local`; this name stays for bench/, scripts/ and tests/ until they import that."""

from local.emulator.dynamodb_local import (
    DynamoDBLocal,
    DynamoDBLocalUnavailable,
    client,
)

__all__ = ["DynamoDBLocal", "DynamoDBLocalUnavailable", "client"]
