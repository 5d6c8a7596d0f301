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
``SECRETGATE_CA_FILE`` (PEM roots; implies TLS) and ``SECRETGATE_TIMEOUT`` (seconds).

Team settings live in secretgate (``SetTeamSettings``), keyed by team id. LiteLLM passes a team's
``secret_manager_settings`` as ``optional_params``; its ``team_id`` key selects the secretgate team, so
the team's LiteLLM metadata is ``{"secret_manager_settings": {"team_id": "<team>"}}``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Dict, Mapping, Optional, Union

from . import _channel
from .aio import AsyncSecretClient
from .client import SecretClient
from .errors import SecretGateError, from_item_error

_TRUE = {"1", "true", "yes", "on"}


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
            "timeout": timeout or float(os.environ.get("SECRETGATE_TIMEOUT", _channel.DEFAULT_TIMEOUT_SECONDS)),
        }
        self._target = target
        self._sync = SecretClient(target, **self._connection)
        self._async: Optional[AsyncSecretClient] = None
        self._async_loop: Optional[asyncio.AbstractEventLoop] = None

    def sync_read_secret(
        self, secret_name: str, optional_params: Optional[dict] = None, timeout: Any = None
    ) -> Optional[str]:
        """The secret's value, or None when secretgate has no such secret (LiteLLM's miss)."""
        results = self._sync.read(secret_name, team_id=_team_id(optional_params), timeout=_seconds(timeout))
        return _value_or_none(results[0])

    async def async_read_secret(
        self, secret_name: str, optional_params: Optional[dict] = None, timeout: Any = None
    ) -> Optional[str]:
        """The secret's value, or None when secretgate has no such secret (LiteLLM's miss)."""
        client = self._async_client()
        results = await client.read(secret_name, team_id=_team_id(optional_params), timeout=_seconds(timeout))
        return _value_or_none(results[0])

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
        response = await self._async_client().write(
            secret_name,
            secret_value,
            team_id=_team_id(optional_params),
            description=description,
            tags=_tags(tags),
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
        the back end's own recovery window (secretgate does not set its length)."""
        response = await self._async_client().delete(
            secret_name,
            team_id=_team_id(optional_params),
            force=recovery_window_in_days == 0,
            timeout=_seconds(timeout),
        )
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
        response = await self._async_client().rotate(
            current_secret_name,
            new_secret_value,
            new_name=new_secret_name,
            team_id=_team_id(optional_params),
            timeout=_seconds(timeout),
        )
        return _as_dict(response)

    def _async_client(self) -> AsyncSecretClient:
        # A grpc.aio channel belongs to the event loop it was created in.
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            self._async = AsyncSecretClient(self._target, **self._connection)
            self._async_loop = loop
        return self._async

    def __repr__(self) -> str:
        return f"<SecretGateSecretManager(target={self._target!r})>"


def _team_id(optional_params: Optional[Mapping[str, Any]]) -> Optional[str]:
    team_id = (optional_params or {}).get("team_id")
    return str(team_id) if team_id else None


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


def _value_or_none(result) -> Optional[str]:
    """LiteLLM wants text or None: a binary value is decoded as UTF-8, a miss is None, other errors raise."""
    if result.found:
        return result.binary_value.decode("utf-8") if result.binary_value else result.value
    if result.error.status == "NOT_FOUND":
        return None
    raise from_item_error("Read", result.error)


def _as_dict(message) -> Dict[str, Any]:
    """A response as a plain dict with every field present (LiteLLM logs or ignores it)."""
    fields = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        fields[field.name] = list(value) if field.label == field.LABEL_REPEATED else value
    return fields


__all__ = ["SecretGateSecretManager", "SecretGateError"]
