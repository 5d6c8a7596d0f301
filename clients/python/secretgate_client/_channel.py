"""Channel credentials and call metadata shared by the sync and the asyncio client."""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import grpc
from google.protobuf import wrappers_pb2

from secretgate.v1 import admin_service_pb2 as admin_pb

try:
    # Optional: when the application has OpenTelemetry, calls carry its active span's context.
    from opentelemetry import propagate as _propagate
except ImportError:
    _propagate = None

# A call with no deadline can hang forever on a black-holed connection; callers may pass their own.
DEFAULT_TIMEOUT_SECONDS = 10.0
# A deadline longer than this is a typo, not a wish (gRPC deadlines are for calls, not for jobs).
MAX_TIMEOUT_SECONDS = 3600.0
SECONDS_FORM = f"a number of seconds greater than 0 and at most {MAX_TIMEOUT_SECONDS:g} (e.g. 3 or 0.5)"


def checked_seconds(value: Any, name: str) -> float:
    """``value`` as a deadline in seconds, or ValueError naming ``name`` and the accepted form: 0 would
    fail every call at once, and a negative, NaN or infinite deadline is no deadline at all."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT_SECONDS:
        raise ValueError(f"{name}: {SECONDS_FORM}, got {value!r}")
    return float(value)

# The W3C Trace Context headers secretgate reads (other propagators' headers are not sent).
_TRACE_CONTEXT_HEADERS = ("traceparent", "tracestate")


def metadata(token: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


def with_trace_context(fixed: Tuple[Tuple[str, str], ...]) -> Tuple[Tuple[str, str], ...]:
    """``fixed`` plus the caller's current OpenTelemetry context as ``traceparent`` / ``tracestate``, injected
    by the application's propagator (W3C Trace Context by default) when ``opentelemetry-api`` is installed
    and a span is active; ``fixed`` alone otherwise."""
    if _propagate is None:
        return fixed
    carrier: dict = {}
    _propagate.inject(carrier)
    return fixed + tuple((key, carrier[key]) for key in _TRACE_CONTEXT_HEADERS if isinstance(carrier.get(key), str))


def credentials(
    tls: bool,
    root_certificates: Optional[bytes],
    private_key: Optional[bytes],
    certificate_chain: Optional[bytes],
) -> Optional[grpc.ChannelCredentials]:
    """TLS credentials (system roots unless ``root_certificates``; mutual TLS with a key and chain), or
    None for plaintext. Any certificate material implies TLS."""
    if not (tls or root_certificates or private_key or certificate_chain):
        return None
    return grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)


def open_channel(
    transport: Any,
    target: str,
    tls: bool,
    root_certificates: Optional[bytes],
    private_key: Optional[bytes],
    certificate_chain: Optional[bytes],
    options: Any,
):
    """A channel to ``target`` from ``transport`` (``grpc`` or ``grpc.aio``): TLS as ``credentials`` decides,
    else plaintext. Every client opens its channel here, so all take the same options the same way."""
    creds = credentials(tls, root_certificates, private_key, certificate_chain)
    if creds:
        return transport.secure_channel(target, creds, options=list(options))
    return transport.insecure_channel(target, options=list(options))


# grpc.health.v1: HealthCheckRequest is one string field (1, the service) and HealthCheckResponse one
# enum field (1, the status). On the wire those are exactly StringValue and Int32Value (an enum is
# encoded as an int32), so the well-known wrappers carry them without generated health code.
HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
HEALTH_SERVICE = "secretgate.v1.SecretService"
_SERVING_STATUSES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def health_check(channel):
    """The Health/Check call on ``channel`` (grpc or grpc.aio): takes the service name, answers its status number."""
    return channel.unary_unary(
        HEALTH_CHECK_METHOD,
        request_serializer=lambda service: wrappers_pb2.StringValue(value=service).SerializeToString(),
        response_deserializer=lambda data: wrappers_pb2.Int32Value.FromString(data).value,
    )


# The health check's token question: AdminService's WhoAmI answers any valid token (any identity may ask)
# and refuses every other one with UNAUTHENTICATED. The one place that names its service.
WHO_AM_I_METHOD = "/secretgate.v1.AdminService/WhoAmI"


def who_am_i(channel):
    """The WhoAmI call on ``channel`` (grpc or grpc.aio)."""
    return channel.unary_unary(
        WHO_AM_I_METHOD,
        request_serializer=admin_pb.WhoAmIRequest.SerializeToString,
        response_deserializer=admin_pb.WhoAmIResponse.FromString,
    )


def serving_status(number: int) -> str:
    """A ServingStatus number's name ("SERVING", "NOT_SERVING", …)."""
    return _SERVING_STATUSES.get(number, f"status {number}")
