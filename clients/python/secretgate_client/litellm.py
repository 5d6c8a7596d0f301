"""secretgate as LiteLLM's custom secret manager (``key_management_system: custom``).

:class:`SecretGateSecretManager` has the methods, parameters and return values of LiteLLM's
``CustomSecretManager`` but does not import LiteLLM, so this package never depends on it. LiteLLM
only loads subclasses of its own base class, so the proxy's side is a two-line file next to its
``config.yaml`` (see docs/clients.md)::

    from litellm.integrations.custom_secret_manager import CustomSecretManager
    from secretgate_client.litellm import SecretGateSecretManager

    class SecretGate(SecretGateSecretManager, CustomSecretManager):
        pass

LiteLLM instantiates the class without arguments, so the connection comes from the environment:
``SECRETGATE_ADDR`` (host:port, required), ``SECRETGATE_TOKEN``, ``SECRETGATE_TLS`` (``true`` for TLS),
``SECRETGATE_CA_FILE`` (PEM roots; implies TLS) and ``SECRETGATE_TIMEOUT`` (seconds, default 3: LiteLLM
calls the blocking read from its event loop, so a slow answer stalls the proxy for that long).

Team settings: when LiteLLM writes, rotates or deletes a team's virtual key it passes the team's
``metadata.secret_manager_settings`` (the provider JSON an admin pasted) as ``optional_params``. They go
to secretgate as the call's ``team_settings``, except a ``team_id`` key, which names a team whose
settings secretgate stores (``SetTeamSettings``). On reads LiteLLM passes its proxy-wide
``key_management_settings`` instead; those are LiteLLM's own and are never forwarded.

Environment: secretgate never serves its own process environment. Where LiteLLM would read a name
from the proxy's environment (not in ``hosted_keys``, or ``access_mode: write_only`` on the server),
secretgate answers "not hosted here" (reason ``NOT_HOSTED``) and this adapter reads the proxy's own
``os.environ``, as LiteLLM does.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Dict, Mapping, Optional, Union

import grpc

from .aio import AsyncSecretClient
from .client import SecretClient
from .errors import SecretGateError, from_item_error

_TRUE = {"1", "true", "yes", "on"}
# ItemError.reason of a name secretgate does not host: the caller reads its own environment.
NOT_HOSTED = "NOT_HOSTED"
_ENV_REFERENCE = "os.environ/"
_LOG = logging.getLogger(__name__)

# LiteLLM passes no deadline, and its blocking read runs on the proxy's event loop.
DEFAULT_TIMEOUT_SECONDS = 3.0

# Fields every dump of LiteLLM's KeyManagementSettings has (its model_dump() lists them all, set or
# not) and a team's secret_manager_settings has no reason to: optional_params holding all of them
# is the proxy-wide settings get_secret passes on reads, not a team's.
_KEY_MANAGEMENT_SETTINGS_FIELDS = frozenset({"hosted_keys", "store_virtual_keys", "prefix_for_stored_virtual_keys", "access_mode"})


class SecretGateSecretManager:
    """LiteLLM's secret manager interface, answered by a secretgate server."""

    def __init__(
        self,
        target: Optional[str] = None,
        *,
        token: Optional[str] = None,
        tls: Optional[bool] = None,
        root_certificates: Optional[bytes] = None,
        timeout: Optional[float] = None,
    ) -> None:
        super().__init__()
        self.secret_manager_name = "secretgate"
        target = target or os.environ.get("SECRETGATE_ADDR")
        if not target:
            raise ValueError("secretgate: SECRETGATE_ADDR (the server's gRPC host:port) is not set")
        if root_certificates is None and os.environ.get("SECRETGATE_CA_FILE"):
            with open(os.environ["SECRETGATE_CA_FILE"], "rb") as file:
                root_certificates = file.read()
        self._connection: Dict[str, Any] = {
            "token": token if token is not None else os.environ.get("SECRETGATE_TOKEN"),
            "tls": tls if tls is not None else os.environ.get("SECRETGATE_TLS", "").lower() in _TRUE,
            "root_certificates": root_certificates,
            "timeout": timeout or float(os.environ.get("SECRETGATE_TIMEOUT", DEFAULT_TIMEOUT_SECONDS)),
        }
        self._target = target
        self._sync = SecretClient(target, **self._connection)
        self._async: Optional[AsyncSecretClient] = None
        self._async_loop: Optional[asyncio.AbstractEventLoop] = None

    def sync_read_secret(
        self, secret_name: str, optional_params: Optional[dict] = None, timeout: Any = None
    ) -> Optional[str]:
        """The secret's value, or None when secretgate has no such secret (LiteLLM's miss)."""
        results = self._sync.read(secret_name, **_team(optional_params), timeout=_seconds(timeout))
        return _read_value(results[0])

    async def async_read_secret(
        self, secret_name: str, optional_params: Optional[dict] = None, timeout: Any = None
    ) -> Optional[str]:
        """The secret's value, or None when secretgate has no such secret (LiteLLM's miss)."""
        client = await self._async_client()
        results = await client.read(secret_name, **_team(optional_params), timeout=_seconds(timeout))
        return _read_value(results[0])

    async def async_write_secret(
        self,
        secret_name: str,
        secret_value: str,
        description: Optional[str] = None,
        optional_params: Optional[dict] = None,
        timeout: Any = None,
        tags: Optional[Union[dict, list]] = None,
    ) -> Dict[str, Any]:
        """Stores the value under the name LiteLLM chose (it already carries the virtual-key prefix)."""
        response = await (await self._async_client()).write(
            secret_name,
            secret_value,
            description=description,
            tags=_tags(tags),
            **_team(optional_params),
            timeout=_seconds(timeout),
        )
        return _as_dict(response)

    async def async_delete_secret(
        self,
        secret_name: str,
        recovery_window_in_days: Optional[int] = 7,
        optional_params: Optional[dict] = None,
        timeout: Any = None,
    ) -> dict:
        """Deletes the secret. A recovery window of 0 days deletes it for good at once; any other keeps
        the back end's own recovery window (secretgate does not set its length).

        A name secretgate does not hold answers ``{"status": "not_found", "secret_name": …}``, as LiteLLM's
        own example manager does, rather than raising: LiteLLM deletes a list of keys in one loop that
        stops at the first exception, and keys made before ``store_virtual_keys`` was on were never stored.
        """
        try:
            response = await (await self._async_client()).delete(
                secret_name,
                force=recovery_window_in_days == 0,
                **_team(optional_params),
                timeout=_seconds(timeout),
            )
        except SecretGateError as error:
            if error.code != grpc.StatusCode.NOT_FOUND:
                raise
            _LOG.info("secretgate: no secret %r to delete (%s)", secret_name, error.details)
            return {"status": "not_found", "secret_name": secret_name}
        return _as_dict(response)

    async def async_rotate_secret(
        self,
        current_secret_name: str,
        new_secret_name: str,
        new_secret_value: str,
        optional_params: Optional[dict] = None,
        timeout: Any = None,
    ) -> dict:
        """Replaces the value in place, or writes the new name, verifies it and then deletes the old one
        (done by the server in one call, so a failure leaves the old secret intact)."""
        response = await (await self._async_client()).rotate(
            current_secret_name,
            new_secret_value,
            new_name=new_secret_name,
            **_team(optional_params),
            timeout=_seconds(timeout),
        )
        return _as_dict(response)

    def validate_environment(self) -> bool:
        """True when secretgate answers its health check SERVING; otherwise ValueError saying what failed."""
        try:
            status = self._sync.health()
        except SecretGateError as error:
            raise ValueError(f"secretgate at {self._target} did not answer its health check: {error}") from None
        if status != "SERVING":
            raise ValueError(f"secretgate at {self._target} is not serving: its health check answered {status}")
        return True

    async def async_health_check(self, timeout: Any = None) -> bool:
        """True when secretgate answers its health check SERVING; otherwise False, with a warning saying what failed."""
        try:
            status = await (await self._async_client()).health(timeout=_seconds(timeout))
        except SecretGateError as error:
            _LOG.warning("secretgate at %s did not answer its health check: %s", self._target, error)
            return False
        if status != "SERVING":
            _LOG.warning("secretgate at %s is not serving: its health check answered %s", self._target, status)
            return False
        return True

    async def _async_client(self) -> AsyncSecretClient:
        # A grpc.aio channel belongs to the event loop it was created in: a new loop gets a new
        # channel, and the old one is closed (on its own loop while that still runs).
        loop = asyncio.get_running_loop()
        if self._async is not None and self._async_loop is loop:
            return self._async
        stale, stale_loop = self._async, self._async_loop
        self._async = AsyncSecretClient(self._target, **self._connection)
        self._async_loop = loop
        if stale is not None:
            if stale_loop is not None and stale_loop.is_running() and not stale_loop.is_closed():
                asyncio.run_coroutine_threadsafe(stale.close(), stale_loop)
            else:
                await stale.close()
        return self._async

    def __repr__(self) -> str:
        return f"<SecretGateSecretManager(target={self._target!r})>"


def _team(optional_params: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The team arguments for a call from LiteLLM's ``optional_params``: a team's settings become
    ``team_settings`` (unset keys dropped), their ``team_id`` key ``team_id``; the proxy-wide
    settings LiteLLM passes on reads become nothing."""
    params = dict(optional_params or {})
    if not params or _KEY_MANAGEMENT_SETTINGS_FIELDS <= params.keys():
        return {}
    team_id = params.pop("team_id", None)
    settings = {key: value for key, value in params.items() if value is not None}
    return {"team_id": str(team_id) if team_id else None, "team_settings": settings or None}


def _seconds(timeout: Any) -> Optional[float]:
    """LiteLLM passes a float or an httpx.Timeout; the latter's longest phase bounds the call."""
    if timeout is None or isinstance(timeout, (int, float)):
        return timeout
    phases = [getattr(timeout, phase, None) for phase in ("connect", "read", "write", "pool")]
    numbers = [phase for phase in phases if isinstance(phase, (int, float))]
    return max(numbers) if numbers else None


def _tags(tags: Optional[Union[dict, list]]) -> Optional[Dict[str, str]]:
    """LiteLLM's tags: a mapping, or AWS-style ``[{"Key": …, "Value": …}]``."""
    if tags is None:
        return None
    if isinstance(tags, Mapping):
        return {str(key): str(value) for key, value in tags.items()}
    return {str(tag["Key"]): str(tag["Value"]) for tag in tags}


def _read_value(result) -> Optional[str]:
    """LiteLLM wants text or None: a binary value is decoded as UTF-8, a miss is None, other errors raise.
    Every read's answer passes here, so what a miss means is decided in one place.

    A name secretgate does not host (reason NOT_HOSTED: not in hosted_keys, or access_mode write_only)
    is one LiteLLM itself would read from the proxy's environment, so it is read from this process's
    os.environ. A name the back end does not hold (NOT_IN_BACKEND) is a miss: the manager answered."""
    if result.found:
        return result.binary_value.decode("utf-8") if result.binary_value else result.value
    if result.error.status == "NOT_FOUND":
        if result.error.reason == NOT_HOSTED:
            name = result.name[len(_ENV_REFERENCE):] if result.name.startswith(_ENV_REFERENCE) else result.name
            _LOG.debug("secretgate: %s is not hosted there; reading it from this process's environment", name)
            return os.environ.get(name)
        return None
    raise from_item_error("Read", result.error)


def _as_dict(message) -> Dict[str, Any]:
    """A response as a plain dict with every field present (LiteLLM logs or ignores it)."""
    fields = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        fields[field.name] = list(value) if field.label == field.LABEL_REPEATED else value
    return fields


__all__ = ["DEFAULT_TIMEOUT_SECONDS", "SecretGateSecretManager", "SecretGateError"]
