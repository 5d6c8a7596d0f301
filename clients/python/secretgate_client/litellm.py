"""secretgate as LiteLLM's custom secret manager (``key_management_system: custom``).

:class:`SecretGateSecretManager` has the methods, parameters and return values of LiteLLM's
``CustomSecretManager`` but does not import LiteLLM, so this package never depends on it. LiteLLM
only loads subclasses of its own base class, so the proxy's side is a two-line file next to its
``config.yaml`` (see docs/clients.md)::

    from litellm.integrations.custom_secret_manager import CustomSecretManager
    from secretgate_client.litellm import SecretGateSecretManager

    class SecretGate(SecretGateSecretManager, CustomSecretManager):
        pass

LiteLLM instantiates the class without arguments, so the connection comes from the environment, checked
when the class is built (one ValueError naming each bad variable and the form it takes):
``SECRETGATE_ADDR`` (host:port, required), ``SECRETGATE_TOKEN``, ``SECRETGATE_TLS`` (``true``/``false``),
``SECRETGATE_CA_FILE`` (PEM roots; implies TLS) and ``SECRETGATE_TIMEOUT`` (seconds, more than 0 and at most
3600, default 3: LiteLLM calls the blocking read from its event loop, so a slow answer stalls the proxy for
that long).

Team settings: when LiteLLM writes, rotates or deletes a team's virtual key it passes the team's
``metadata.secret_manager_settings`` (the provider JSON an admin pasted) as ``optional_params``. They go
to secretgate whole as the call's ``team_settings`` (keys set to null left out), except a ``team_id`` key,
which names a team whose settings secretgate stores (``SetTeamSettings``); the server applies them or
refuses the call naming the keys it does not take — LiteLLM's own proxy-wide keys such as
``store_virtual_keys`` among them. On reads LiteLLM passes its proxy-wide ``key_management_settings``
instead; only there are they recognised, and never forwarded.

Event loops: one blocking gRPC channel serves every thread; the ``async_*`` methods start their call on it
and await it from whichever event loop asked, so any number of loops may share one adapter.

Health: ``validate_environment`` and ``async_health_check`` check the server, the token and the back end a
read reaches, and say which failed. Deletes never raise (LiteLLM's delete hook catches nothing).

Environment: secretgate never serves its own process environment. Where LiteLLM would read a name
from the proxy's environment (not in ``hosted_keys``, or ``access_mode: write_only`` on the server),
secretgate answers "not hosted here" (reason ``NOT_HOSTED``) and this adapter reads the proxy's own
``os.environ``, as LiteLLM does.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, Mapping, Optional, Union

import grpc

from . import _environment, _health, _requests
from ._awaiting import awaited
from ._channel import checked_seconds
from .client import SecretClient
from .errors import SecretGateError, from_item_error

# ItemError.reason of a name secretgate does not host: the caller reads its own environment.
NOT_HOSTED = "NOT_HOSTED"
_ENV_REFERENCE = "os.environ/"
_LOG = logging.getLogger(__name__)

# LiteLLM passes no deadline, and its blocking read runs on the proxy's event loop.
DEFAULT_TIMEOUT_SECONDS = 3.0

# Fields every dump of LiteLLM's KeyManagementSettings has (its model_dump() lists them all, set or
# not): optional_params holding all of them on a read is the proxy-wide settings get_secret passes,
# not a team's. Only reads are tested for it: LiteLLM passes that dump on reads and nowhere else.
_KEY_MANAGEMENT_SETTINGS_FIELDS = frozenset({"hosted_keys", "store_virtual_keys", "prefix_for_stored_virtual_keys", "access_mode"})


class SecretGateSecretManager:
    """LiteLLM's secret manager interface, answered by a secretgate server.

    One blocking gRPC channel serves every thread and every event loop: the ``async_*`` methods start their
    call on it and await it from whichever loop asked (see ``_awaiting``), so any number of loops may use
    one adapter at once and none has a channel to close.
    """

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
        settings = _environment.connection(
            os.environ,
            target=target,
            token=token,
            tls=tls,
            root_certificates=root_certificates,
            timeout=timeout,
            default_timeout=DEFAULT_TIMEOUT_SECONDS,
        )
        self._target = settings.target
        self._connection: Dict[str, Any] = {
            "token": settings.token,
            "tls": settings.tls,
            "root_certificates": settings.root_certificates,
            "timeout": settings.timeout,
        }
        self._client = SecretClient(self._target, **self._connection)

    def sync_read_secret(
        self, secret_name: str, optional_params: Optional[dict] = None, timeout: Any = None
    ) -> Optional[str]:
        """The secret's value, or None when secretgate has no such secret (LiteLLM's miss)."""
        response = self._client._call("Read", _read_request(secret_name, optional_params), _seconds(timeout))
        return _read_value(response.results[0])

    async def async_read_secret(
        self, secret_name: str, optional_params: Optional[dict] = None, timeout: Any = None
    ) -> Optional[str]:
        """The secret's value, or None when secretgate has no such secret (LiteLLM's miss)."""
        response = await self._awaited("Read", _read_request(secret_name, optional_params), timeout)
        return _read_value(response.results[0])

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
        team = _team(optional_params)
        request = _requests.write(secret_name, secret_value, team["team_id"], False, description, _tags(tags), team["team_settings"])
        return _as_dict(await self._awaited("Write", request, timeout))

    async def async_delete_secret(
        self,
        secret_name: str,
        recovery_window_in_days: Optional[int] = 7,
        optional_params: Optional[dict] = None,
        timeout: Any = None,
    ) -> dict:
        """Deletes the secret. A recovery window of 0 days deletes it for good at once; any other keeps
        the back end's own recovery window (secretgate does not set its length).

        Never raises: LiteLLM deletes the keys of one ``/key/delete`` in a loop that catches nothing, so
        one exception would leave every later key behind. A name secretgate does not hold answers
        ``{"status": "not_found", "secret_name": …}`` (logged at info), as LiteLLM's own example manager
        does: keys made before ``store_virtual_keys`` was on were never stored. Any other failure — refused
        by the rules, server unreachable, deadline — is logged once at warning, naming the secret and the
        status, and answers ``{"status": "error", "secret_name": …, "code": "PERMISSION_DENIED", "message": …}``,
        the shape of LiteLLM's own managers' failure result.
        """
        try:
            team = _team(optional_params)
            request = _requests.delete(secret_name, team["team_id"], False, recovery_window_in_days == 0, team["team_settings"])
            return _as_dict(await self._awaited("Delete", request, timeout))
        except SecretGateError as error:
            if error.code == grpc.StatusCode.NOT_FOUND:
                _LOG.info("secretgate: no secret %r to delete (%s)", secret_name, error.details)
                return {"status": "not_found", "secret_name": secret_name}
            return _delete_failed(secret_name, error.code.name, error)
        except Exception as error:  # e.g. a timeout LiteLLM passed that is no deadline: the loop goes on all the same
            return _delete_failed(secret_name, "INVALID_ARGUMENT" if isinstance(error, (ValueError, TypeError)) else "UNKNOWN", error)

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
        team = _team(optional_params)
        request = _requests.rotate(current_secret_name, new_secret_value, new_secret_name, team["team_id"], False, team["team_settings"])
        return _as_dict(await self._awaited("Rotate", request, timeout))

    def validate_environment(self) -> bool:
        """True when the server, the token and the back end a read reaches all answer (see _health);
        otherwise ValueError saying which failed and why."""
        report = self._client.check_health()
        if not report.healthy:
            raise ValueError(f"secretgate at {self._target} is not healthy: {report}")
        return True

    async def async_health_check(self, timeout: Any = None) -> bool:
        """The checks of validate_environment, awaited: True, or False with one warning saying which failed."""
        seconds = _seconds(timeout) or self._connection["timeout"]
        report = await _health.run_awaiting(lambda method, request, left: self._awaited(method, request, left), seconds)
        if not report.healthy:
            _LOG.warning("secretgate at %s is not healthy: %s", self._target, report)
        return report.healthy

    def _awaited(self, method: str, request, timeout: Any):
        """The call started on the shared channel, awaited from the running loop (see _awaiting)."""
        return awaited(self._client._future(method, request, _seconds(timeout)), method)

    def __repr__(self) -> str:
        return f"<SecretGateSecretManager(target={self._target!r})>"


def _read_request(secret_name: str, optional_params: Optional[Mapping[str, Any]]):
    """A read's request: the proxy-wide settings LiteLLM passes on every read (its KeyManagementSettings
    dumped) are LiteLLM's own and become nothing; anything else is a team's."""
    if not optional_params or _KEY_MANAGEMENT_SETTINGS_FIELDS <= optional_params.keys():
        return _requests.read((secret_name,), None, False, False)
    team = _team(optional_params)
    return _requests.read((secret_name,), team["team_id"], False, False, team["team_settings"])


def _team(optional_params: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The team arguments for a call from a team's settings (LiteLLM passes its team's
    ``secret_manager_settings`` on writes, rotations and deletes): ``team_id`` names settings stored in
    secretgate; every other key is forwarded whole as the call's ``team_settings`` for the server to
    apply or refuse, naming it — LiteLLM's own keys among them. Keys set to null are unset, as in LiteLLM."""
    params = dict(optional_params or {})
    team_id = params.pop("team_id", None)
    settings = {key: value for key, value in params.items() if value is not None}
    return {"team_id": str(team_id) if team_id else None, "team_settings": settings or None}


def _delete_failed(secret_name: str, code: str, error: Exception) -> Dict[str, Any]:
    _LOG.warning("secretgate: could not delete %r: %s: %s", secret_name, code, getattr(error, "details", error))
    return {"status": "error", "secret_name": secret_name, "code": code, "message": str(error)}


def _seconds(timeout: Any) -> Optional[float]:
    """LiteLLM passes a float or an httpx.Timeout; the latter's longest phase bounds the call. None: the
    adapter's own deadline. One that is no deadline (0, negative, NaN) is a ValueError naming ``timeout``."""
    if timeout is None:
        return None
    if isinstance(timeout, (int, float)):
        return checked_seconds(timeout, "timeout")
    phases = [getattr(timeout, phase, None) for phase in ("connect", "read", "write", "pool")]
    numbers = [phase for phase in phases if isinstance(phase, (int, float)) and not isinstance(phase, bool)]
    return checked_seconds(max(numbers), "timeout") if numbers else None


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
