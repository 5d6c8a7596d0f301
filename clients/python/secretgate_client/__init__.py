"""Python client for secretgate: :class:`SecretClient` (blocking) and :class:`AsyncSecretClient` (grpc.aio),
what a proxy calls (secretgate.v1.SecretService); :class:`AdminClient` and :class:`AsyncAdminClient`, what an
operator calls (secretgate.v1.AdminService; also ``SecretClient(...).admin`` on the same channel); and
:mod:`secretgate_client.litellm`, a drop-in LiteLLM custom secret manager.

The generated protobuf and gRPC modules are importable as ``secretgate.v1.secret_service_pb2`` /
``secretgate.v1.secret_service_pb2_grpc`` and ``secretgate.v1.admin_service_pb2`` /
``secretgate.v1.admin_service_pb2_grpc``.
"""

from secretgate.v1 import admin_service_pb2 as admin_messages
from secretgate.v1 import secret_service_pb2 as messages

from ._health import HealthCheck, HealthReport
from ._requests import TeamSettings
from .admin import AdminClient, AsyncAdminClient
from .aio import AsyncSecretClient
from .client import SecretClient
from .errors import SecretGateError

__all__ = [
    "AdminClient",
    "AsyncAdminClient",
    "AsyncSecretClient",
    "HealthCheck",
    "HealthReport",
    "SecretClient",
    "SecretGateError",
    "TeamSettings",
    "admin_messages",
    "messages",
]
