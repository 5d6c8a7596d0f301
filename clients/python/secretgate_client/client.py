"""SecretClient: the blocking client."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Union

import grpc

from secretgate.v1 import secret_service_pb2 as pb
from secretgate.v1 import secret_service_pb2_grpc as pb_grpc

from . import _channel, _health, _requests
from ._health import HealthReport
from ._requests import TeamSettings
from .admin import AdminClient
from .errors import from_rpc_error


class SecretClient:
    """A blocking secretgate client over one gRPC channel.

    ``target`` is a gRPC address such as ``"127.0.0.1:50051"``. ``token`` is sent as
    ``authorization: Bearer <token>`` on every call. The channel is plaintext unless ``tls`` is true or
    certificate material is given. ``timeout`` (seconds, more than 0) is every call's deadline unless the
    call passes its own. Failures raise :class:`~secretgate_client.SecretGateError`. With ``opentelemetry-api``
    installed, each call carries the caller's active span as W3C ``traceparent`` / ``tracestate`` metadata.
    The channel is thread-safe: one client serves every thread.
    """

    def __init__(
        self,
        target: str,
        *,
        token: Optional[str] = None,
        tls: bool = False,
        root_certificates: Optional[bytes] = None,
        private_key: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
        timeout: float = _channel.DEFAULT_TIMEOUT_SECONDS,
        options: Sequence[tuple] = (),
    ) -> None:
        self._timeout = _channel.checked_seconds(timeout, "timeout")
        self._channel = _channel.open_channel(grpc, target, tls, root_certificates, private_key, certificate_chain, options)
        self._calls = _health.calls(self._channel, pb_grpc.SecretServiceStub(self._channel))
        self._metadata = _channel.metadata(token)
        self._admin: Optional[AdminClient] = None

    @property
    def admin(self) -> AdminClient:
        """The operator's RPCs (secretgate.v1.AdminService: ``who_am_i``, ``describe_backends``, ``list_teams``, …)
        on this client's channel, with its token and deadline."""
        if self._admin is None:
            self._admin = AdminClient._over(self._channel, self._metadata, self._timeout)
        return self._admin

    def read(
        self,
        *names: str,
        team_id: Optional[str] = None,
        bypass_cache: bool = False,
        virtual_key: bool = False,
        team_settings: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> List[pb.SecretResult]:
        """Resolves names in one call. One result per name, in order; a miss or a failed item is a
        result with ``found`` false and ``error`` set, not an exception. ``team_settings`` are back-end settings for this call only (see SetTeamSettings), merged over ``team_id``'s."""
        request = _requests.read(names, team_id, bypass_cache, virtual_key, team_settings)
        return list(self._call("Read", request, timeout).results)

    def write(
        self,
        name: str,
        value: Union[str, bytes],
        *,
        team_id: Optional[str] = None,
        virtual_key: bool = False,
        description: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        team_settings: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> pb.WriteResponse:
        """Creates the secret or adds a version; ``bytes`` values are stored as binary."""
        request = _requests.write(name, value, team_id, virtual_key, description, tags, team_settings)
        return self._call("Write", request, timeout)

    def delete(
        self,
        name: str,
        *,
        team_id: Optional[str] = None,
        virtual_key: bool = False,
        force: bool = False,
        team_settings: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> pb.DeleteResponse:
        """Deletes the secret; ``force`` skips the back end's recovery window."""
        return self._call("Delete", _requests.delete(name, team_id, virtual_key, force, team_settings), timeout)

    def rotate(
        self,
        current_name: str,
        value: str,
        *,
        new_name: Optional[str] = None,
        team_id: Optional[str] = None,
        virtual_key: bool = False,
        team_settings: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> pb.RotateResponse:
        """Replaces the value in place, or moves it to ``new_name`` (the old name is deleted last)."""
        request = _requests.rotate(current_name, value, new_name, team_id, virtual_key, team_settings)
        return self._call("Rotate", request, timeout)

    def list_hosted(self, *, team_id: Optional[str] = None, timeout: Optional[float] = None) -> List[pb.HostedKey]:
        """The names the server serves, with whether each resolves; never values."""
        return list(self._call("ListHosted", _requests.list_hosted(team_id), timeout).keys)

    def set_team_settings(
        self, team_id: str, settings: Mapping[str, Any], *, timeout: Optional[float] = None
    ) -> TeamSettings:
        """Stores a team's back-end settings (an empty mapping clears them); returns them redacted."""
        response = self._call("SetTeamSettings", _requests.set_team_settings(team_id, settings), timeout)
        return _requests.team_settings(response)

    def get_team_settings(self, team_id: str, *, timeout: Optional[float] = None) -> TeamSettings:
        """A team's back-end settings, redacted; ``configured`` is false when it has none."""
        return _requests.team_settings(self._call("GetTeamSettings", _requests.get_team_settings(team_id), timeout))

    def health(self, *, timeout: Optional[float] = None) -> str:
        """The server's serving status for SecretService (grpc.health.v1, which needs no token): ``"SERVING"``,
        ``"NOT_SERVING"`` (e.g. shutting down), …; an unreachable server raises SecretGateError."""
        return _channel.serving_status(self._call(_health.HEALTH, _channel.HEALTH_SERVICE, timeout))

    def check_health(self, *, timeout: Optional[float] = None) -> HealthReport:
        """Checks the server (grpc.health.v1), this client's token (WhoAmI) and the back end a read reaches
        (a read of ``secretgate-readiness-probe`` past the cache), in that order, within ``timeout``; the
        report says which failed (``report.healthy``, ``str(report)``). It never raises for what it checks."""
        return _health.run_blocking(self._call, self._seconds(timeout))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "SecretClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, request, timeout: Optional[float]):
        """One blocking call of ``method`` (an RPC's name, ``Health/Check`` or ``WhoAmI``); errors as SecretGateError."""
        try:
            return self._calls[method](request, timeout=self._seconds(timeout), metadata=_channel.with_trace_context(self._metadata))
        except grpc.RpcError as error:
            raise from_rpc_error(method, error) from None

    def _future(self, method: str, request, timeout: Optional[float]) -> grpc.Future:
        """The same call started without waiting: a grpc.Future (also the call's RpcError when it fails).
        Callable from any thread; the LiteLLM adapter awaits it from whichever event loop asked."""
        return self._calls[method].future(request, timeout=self._seconds(timeout), metadata=_channel.with_trace_context(self._metadata))

    def _seconds(self, timeout: Optional[float]) -> float:
        return self._timeout if timeout is None else _channel.checked_seconds(timeout, "timeout")
