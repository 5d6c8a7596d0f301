"""The LiteLLM adapter's SECRETGATE_* variables, read and checked when the adapter is built.

LiteLLM builds its custom secret manager without arguments when the proxy starts, so a bad variable has to
stop the start there with one error naming it and the form it takes — not fail every call later (a timeout
of 0 answers DEADLINE_EXCEEDED at once, and LiteLLM then quietly reads its own environment), nor crash in
float() naming nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, List, Mapping, Optional

from . import _channel

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
# gRPC target schemes passed through as they are (grpc's own syntax: dns:///host:port, unix:///path, …).
_TARGET_SCHEMES = re.compile(r"^(dns|unix|unix-abstract|ipv4|ipv6|vsock):")
# host:port, the host a name or an IPv4 address or a bracketed IPv6 address.
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")
_DECIMAL = re.compile(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)")
# What an HTTP/2 header value may hold, less the space (the token is sent as "authorization: Bearer <token>").
_TOKEN = re.compile(r"[\x21-\x7e]+")
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"

ADDRESS_FORM = "the server's gRPC host:port, e.g. secretgate.internal:50051 (or a gRPC target such as dns:///host:port)"
TLS_FORM = "true or false (also 1/0, yes/no, on/off)"


@dataclass(frozen=True)
class Connection:
    target: str
    token: Optional[str]
    tls: bool
    root_certificates: Optional[bytes]
    timeout: float


def connection(
    environ: Mapping[str, str],
    *,
    target: Optional[str],
    token: Optional[str],
    tls: Optional[bool],
    root_certificates: Optional[bytes],
    timeout: Optional[float],
    default_timeout: float,
) -> Connection:
    """The connection the arguments (first) and the SECRETGATE_* variables (otherwise) describe; every
    problem at once in one ValueError, each naming its variable (or argument) and the form it takes.
    Values are quoted, except the token's, which never appears in a message."""
    problems: List[str] = []

    def checked(check: Callable[[], object]):
        try:
            return check()
        except ValueError as problem:
            problems.append(str(problem))
            return None

    if target is not None:
        address = checked(lambda: _address(target, "target"))
    else:
        address = checked(lambda: _address(environ.get("SECRETGATE_ADDR"), "SECRETGATE_ADDR"))
    if token is None:
        token = environ.get("SECRETGATE_TOKEN") or None
        checked(lambda: _token(token, "SECRETGATE_TOKEN"))
    else:
        checked(lambda: _token(token or None, "token"))
    if tls is None:
        tls = checked(lambda: _flag(environ.get("SECRETGATE_TLS", ""), "SECRETGATE_TLS"))
    if root_certificates is None and environ.get("SECRETGATE_CA_FILE"):
        root_certificates = checked(lambda: _ca_file(environ["SECRETGATE_CA_FILE"], "SECRETGATE_CA_FILE"))
    if timeout is not None:
        seconds = checked(lambda: _channel.checked_seconds(timeout, "timeout"))
    elif "SECRETGATE_TIMEOUT" in environ:
        seconds = checked(lambda: _seconds(environ["SECRETGATE_TIMEOUT"], "SECRETGATE_TIMEOUT"))
    else:
        seconds = default_timeout
    if problems:
        raise ValueError("secretgate: " + "; ".join(problems))
    return Connection(target=address, token=token or None, tls=bool(tls), root_certificates=root_certificates, timeout=seconds)


def _address(value: Optional[str], name: str) -> str:
    if value is None or value.strip() == "":
        raise ValueError(f"{name} is not set: {ADDRESS_FORM}")
    value = value.strip()
    if value.startswith(("http://", "https://")):
        raise ValueError(f"{name}: {ADDRESS_FORM}, not a URL, got {value!r} (for TLS set SECRETGATE_TLS=true)")
    if _TARGET_SCHEMES.match(value) and not re.search(r"\s", value):
        return value
    matched = _HOST_PORT.fullmatch(value)
    if not matched or not 1 <= int(matched.group(2)) <= 65535:
        raise ValueError(f"{name}: {ADDRESS_FORM}, got {value!r}")
    return value


def _token(value: Optional[str], name: str) -> None:
    if value is not None and not _TOKEN.fullmatch(value):
        raise ValueError(
            f"{name}: printable ASCII without spaces or line breaks (it is sent as the header authorization: Bearer <token>); "
            "the value is not shown"
        )


def _flag(value: str, name: str) -> bool:
    spelled = value.strip().lower()
    if spelled in _TRUE:
        return True
    if spelled in _FALSE:
        return False
    raise ValueError(f"{name}: {TLS_FORM}, got {value!r}")


def _ca_file(path: str, name: str) -> bytes:
    try:
        with open(path, "rb") as file:
            pem = file.read()
    except OSError as error:
        raise ValueError(f"{name}: a readable file of PEM certificates (the roots to trust), cannot read {path!r}: {error.strerror}") from None
    if _PEM_CERTIFICATE not in pem:
        raise ValueError(f"{name}: a file of PEM certificates (the roots to trust), {path!r} holds no PEM certificate")
    return pem


def _seconds(value: str, name: str) -> float:
    spelled = value.strip()
    if not _DECIMAL.fullmatch(spelled) or not 0 < float(spelled) <= _channel.MAX_TIMEOUT_SECONDS:
        raise ValueError(f"{name}: {_channel.SECONDS_FORM}, got {value!r}")
    return float(spelled)
