"""Python client for secretgate: :class:`SecretClient` (blocking), :class:`AsyncSecretClient` (grpc.aio),
and :mod:`secretgate_client.litellm`, a drop-in LiteLLM custom secret manager.

The generated protobuf and gRPC modules are importable as ``secretgate.v1.secret_service_pb2`` and
``secretgate.v1.secret_service_pb2_grpc``.
"""

from secretgate.v1 import secret_service_pb2 as messages

from ._health import HealthCheck, HealthReport
from ._requests import TeamSettings
from .aio import AsyncSecretClient
from .client import SecretClient
from .errors import SecretGateError

__all__ = ["AsyncSecretClient", "HealthCheck", "HealthReport", "SecretClient", "SecretGateError", "TeamSettings", "messages"]
