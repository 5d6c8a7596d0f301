"""AdminClient and AsyncAdminClient: what an operator calls (secretgate.v1.AdminService).

SecretClient is what a proxy calls (Read, Write, Delete, Rotate, ListHosted, team settings); the
operator's RPCs — who the caller is, the back ends and their statistics, the teams with settings and
whether edited settings reach their back end, the configured callers, the live audit log, and moving
secrets between back ends — are AdminService's. Each client here takes the same options as the secret
client, or shares its channel: ``SecretClient(...).admin`` / ``AsyncSecretClient(...).admin``.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator, List, Mapping, Optional, Sequence

import grpc

from secretgate.v1 import admin_service_pb2 as pb
from secretgate.v1 import admin_service_pb2_grpc as pb_grpc

from . import _channel
from .errors import from_rpc_error


def _test_team_settings(team_id: Optional[str], settings: Mapping[str, Any]) -> pb.TestTeamSettingsRequest:
    request = pb.TestTeamSettingsRequest(team_id=team_id or "")
    request.settings.update(dict(settings))
    return request


class _AdminClientBase:
    """What both admin clients share: their options, their channel (their own, or a secret client's), their deadline."""

    # The gRPC module the channel comes from: grpc (blocking) or grpc.aio.
    _grpc_module: Any = grpc

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
        seconds = _channel.checked_seconds(timeout, "timeout")
        channel = _channel.open_channel(
            self._grpc_module, target, tls, root_certificates, private_key, certificate_chain, options
        )
        self._setup(channel, _channel.metadata(token), seconds, owns_channel=True)

    @classmethod
    def _over(cls, channel, metadata, timeout: float):
        """An admin client on a secret client's channel (closing it is the secret client's)."""
        client = cls.__new__(cls)
        client._setup(channel, metadata, timeout, owns_channel=False)
        return client

    def _setup(self, channel, metadata, timeout: float, owns_channel: bool) -> None:
        self._channel = channel
        self._stub = pb_grpc.AdminServiceStub(channel)
        self._metadata = metadata
        self._timeout = timeout
        self._owns_channel = owns_channel

    def _seconds(self, timeout: Optional[float]) -> float:
        return self._timeout if timeout is None else _channel.checked_seconds(timeout, "timeout")


class AdminClient(_AdminClientBase):
    """A blocking client of secretgate.v1.AdminService over one gRPC channel.

    ``target`` and the other options are :class:`~secretgate_client.SecretClient`'s. Every RPC but
    ``who_am_i`` needs an admin token, and answers within that admin's rules. Failures raise
    :class:`~secretgate_client.SecretGateError`.
    """

    def who_am_i(self, *, timeout: Optional[float] = None) -> pb.Caller:
        """The identity the token stands for and its rules (never the token); any authenticated caller may ask."""
        return self._call("WhoAmI", pb.WhoAmIRequest(), timeout).caller

    def describe_backends(self, *, timeout: Optional[float] = None) -> List[pb.BackendDescription]:
        """Every back end the caller may reach: system, capabilities, access mode, health, team-settings schema."""
        return list(self._call("DescribeBackends", pb.DescribeBackendsRequest(), timeout).backends)

    def get_stats(self, *, timeout: Optional[float] = None) -> pb.GetStatsResponse:
        """The last five minutes of each back end the caller may reach."""
        return self._call("GetStats", pb.GetStatsRequest(), timeout)

    def list_callers(self, *, timeout: Optional[float] = None) -> List[pb.Caller]:
        """The configured identities the caller administers, with their rules (never tokens)."""
        return list(self._call("ListCallers", pb.ListCallersRequest(), timeout).callers)

    def list_teams(self, *, page_size: int = 0, page_token: str = "", timeout: Optional[float] = None) -> pb.ListTeamsResponse:
        """One page of the teams with settings the caller administers; pass ``next_page_token`` on for the next."""
        return self._call("ListTeams", pb.ListTeamsRequest(page_size=page_size, page_token=page_token), timeout)

    def test_team_settings(
        self, settings: Mapping[str, Any], *, team_id: Optional[str] = None, timeout: Optional[float] = None
    ) -> pb.TestTeamSettingsResponse:
        """Validates settings as SetTeamSettings would and probes their back end, storing nothing."""
        return self._call("TestTeamSettings", _test_team_settings(team_id, settings), timeout)

    def plan_migration(
        self, from_backend: str, to_backend: str, *, match: Sequence[str] = (), delete_source: bool = False, timeout: Optional[float] = None
    ) -> pb.PlanMigrationResponse:
        """The names a migration takes (and those it leaves out, with why)."""
        request = pb.PlanMigrationRequest(from_backend=from_backend, to_backend=to_backend, match=list(match), delete_source=delete_source)
        return self._call("PlanMigration", request, timeout)

    def migrate_secret(
        self,
        from_backend: str,
        to_backend: str,
        name: str,
        *,
        dry_run: bool = False,
        delete_source: bool = False,
        timeout: Optional[float] = None,
    ) -> pb.MigrateSecretResponse:
        """Copies one secret to another back end and verifies the copy."""
        request = pb.MigrateSecretRequest(from_backend=from_backend, to_backend=to_backend, name=name, dry_run=dry_run, delete_source=delete_source)
        return self._call("MigrateSecret", request, timeout)

    def tail_audit(self) -> Iterator[pb.AuditRecord]:
        """The audit records written from now on that the caller may see, until the iterator is closed."""
        stream = self._stub.TailAudit(pb.TailAuditRequest(), metadata=_channel.with_trace_context(self._metadata))
        try:
            for response in stream:
                yield response.record
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                raise from_rpc_error("TailAudit", error) from None
        finally:
            stream.cancel()

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> "AdminClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, request, timeout: Optional[float]):
        try:
            return getattr(self._stub, method)(
                request, timeout=self._seconds(timeout), metadata=_channel.with_trace_context(self._metadata)
            )
        except grpc.RpcError as error:
            raise from_rpc_error(method, error) from None


class AsyncAdminClient(_AdminClientBase):
    """The asyncio client of secretgate.v1.AdminService (grpc.aio); create it inside the event loop that uses it.
    The methods are :class:`AdminClient`'s, awaited; ``tail_audit`` is an async iterator."""

    _grpc_module = grpc.aio

    async def who_am_i(self, *, timeout: Optional[float] = None) -> pb.Caller:
        return (await self._call("WhoAmI", pb.WhoAmIRequest(), timeout)).caller

    async def describe_backends(self, *, timeout: Optional[float] = None) -> List[pb.BackendDescription]:
        return list((await self._call("DescribeBackends", pb.DescribeBackendsRequest(), timeout)).backends)

    async def get_stats(self, *, timeout: Optional[float] = None) -> pb.GetStatsResponse:
        return await self._call("GetStats", pb.GetStatsRequest(), timeout)

    async def list_callers(self, *, timeout: Optional[float] = None) -> List[pb.Caller]:
        return list((await self._call("ListCallers", pb.ListCallersRequest(), timeout)).callers)

    async def list_teams(self, *, page_size: int = 0, page_token: str = "", timeout: Optional[float] = None) -> pb.ListTeamsResponse:
        return await self._call("ListTeams", pb.ListTeamsRequest(page_size=page_size, page_token=page_token), timeout)

    async def test_team_settings(
        self, settings: Mapping[str, Any], *, team_id: Optional[str] = None, timeout: Optional[float] = None
    ) -> pb.TestTeamSettingsResponse:
        return await self._call("TestTeamSettings", _test_team_settings(team_id, settings), timeout)

    async def plan_migration(
        self, from_backend: str, to_backend: str, *, match: Sequence[str] = (), delete_source: bool = False, timeout: Optional[float] = None
    ) -> pb.PlanMigrationResponse:
        request = pb.PlanMigrationRequest(from_backend=from_backend, to_backend=to_backend, match=list(match), delete_source=delete_source)
        return await self._call("PlanMigration", request, timeout)

    async def migrate_secret(
        self,
        from_backend: str,
        to_backend: str,
        name: str,
        *,
        dry_run: bool = False,
        delete_source: bool = False,
        timeout: Optional[float] = None,
    ) -> pb.MigrateSecretResponse:
        request = pb.MigrateSecretRequest(from_backend=from_backend, to_backend=to_backend, name=name, dry_run=dry_run, delete_source=delete_source)
        return await self._call("MigrateSecret", request, timeout)

    async def tail_audit(self) -> AsyncIterator[pb.AuditRecord]:
        stream = self._stub.TailAudit(pb.TailAuditRequest(), metadata=_channel.with_trace_context(self._metadata))
        try:
            async for response in stream:
                yield response.record
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                raise from_rpc_error("TailAudit", error) from None
        finally:
            stream.cancel()

    async def close(self) -> None:
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> "AsyncAdminClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _call(self, method: str, request, timeout: Optional[float]):
        try:
            return await getattr(self._stub, method)(
                request, timeout=self._seconds(timeout), metadata=_channel.with_trace_context(self._metadata)
            )
        except grpc.RpcError as error:
            raise from_rpc_error(method, error) from None
