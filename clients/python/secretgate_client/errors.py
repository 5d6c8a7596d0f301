"""The one exception type secretgate_client raises."""

from __future__ import annotations

from typing import Optional

import grpc

_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class SecretGateError(Exception):
    """A failed call or a failed item of a batch read, carrying its gRPC status code.

    ``code`` is a :class:`grpc.StatusCode` (``code.name`` is e.g. ``"NOT_FOUND"``); ``details`` is the
    server's message, which names the secret or field and never contains a secret value.
    """

    def __init__(self, code: grpc.StatusCode, details: str, *, method: Optional[str] = None) -> None:
        where = f"{method}: " if method else ""
        super().__init__(f"{where}{code.name}: {details}")
        self.code = code
        self.details = details
        self.method = method


def from_rpc_error(method: str, error: grpc.RpcError) -> SecretGateError:
    """Wraps an error raised by a grpc (or grpc.aio) call."""
    code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
    details = error.details() if callable(getattr(error, "details", None)) else str(error)
    return SecretGateError(code or grpc.StatusCode.UNKNOWN, details or "", method=method)


def from_item_error(method: str, item_error) -> SecretGateError:
    """Wraps the ItemError of one result of a batch."""
    code = _CODES_BY_NUMBER.get(item_error.code, grpc.StatusCode.UNKNOWN)
    return SecretGateError(code, item_error.message, method=method)
