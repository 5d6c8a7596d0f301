"""SecretGateSecretManager called the way LiteLLM calls it, against the live server.

LiteLLM is not installed here (and the adapter must not need it), so `CustomSecretManager` below is a
stand-in with LiteLLM's shape: an ABC whose read methods are abstract and whose constructor takes
`secret_manager_name`. LiteLLM's loader requires a subclass of it and instantiates it without
arguments; `SecretGate` is the two-line file docs/clients.md tells users to put next to config.yaml.
"""

import asyncio
from abc import ABC, abstractmethod

import grpc
import pytest

from secretgate_client import SecretClient, SecretGateError
from secretgate_client.litellm import SecretGateSecretManager


class CustomSecretManager(ABC):
    def __init__(self, secret_manager_name=None, **kwargs):
        super().__init__()
        self.secret_manager_name = secret_manager_name or "custom_secret_manager"

    @abstractmethod
    async def async_read_secret(self, secret_name, optional_params=None, timeout=None): ...

    @abstractmethod
    def sync_read_secret(self, secret_name, optional_params=None, timeout=None): ...


class SecretGate(SecretGateSecretManager, CustomSecretManager):
    pass


class HttpxLikeTimeout:
    """The attributes of httpx.Timeout that the adapter reads."""

    def __init__(self, connect, read, write, pool):
        self.connect, self.read, self.write, self.pool = connect, read, write, pool


@pytest.fixture
def manager(address, token, monkeypatch):
    monkeypatch.setenv("SECRETGATE_ADDR", address)
    monkeypatch.setenv("SECRETGATE_TOKEN", token)
    return SecretGate()


@pytest.fixture
def admin(address, token):
    with SecretClient(address, token=token) as client:
        yield client


def test_loads_as_litellm_does_from_the_environment(manager, address):
    assert isinstance(manager, CustomSecretManager)
    assert manager.secret_manager_name == "secretgate"
    assert address in repr(manager)


def test_without_an_address_construction_names_the_variable(monkeypatch):
    monkeypatch.delenv("SECRETGATE_ADDR", raising=False)
    with pytest.raises(ValueError, match="SECRETGATE_ADDR"):
        SecretGate()


# What LiteLLM's get_secret passes as optional_params on reads: its key_management_settings, dumped.
KEY_MANAGEMENT_SETTINGS = {
    "store_virtual_keys": True,
    "prefix_for_stored_virtual_keys": "litellm/",
    "access_mode": "read_and_write",
    "hosted_keys": None,
    "custom_secret_manager": "secretgate_manager.SecretGate",
}


def test_reads_return_the_value_or_none(manager, admin, name):
    admin.write(name, "provider-key")
    assert manager.sync_read_secret(secret_name=name, optional_params=KEY_MANAGEMENT_SETTINGS) == "provider-key"
    assert manager.sync_read_secret(secret_name=f"{name}-missing") is None
    assert asyncio.run(manager.async_read_secret(secret_name=name, timeout=5.0)) == "provider-key"
    assert asyncio.run(manager.async_read_secret(secret_name=f"{name}-missing")) is None


def test_virtual_key_lifecycle_as_the_proxy_hooks_drive_it(manager, admin, name):
    team = f"team-{name}"
    admin.set_team_settings(team, {"description": "team keys"})
    team_params = {"team_id": team}
    stored_name = f"litellm/{name}"  # LiteLLM adds prefix_for_stored_virtual_keys itself

    async def lifecycle():
        written = await manager.async_write_secret(
            secret_name=stored_name,
            secret_value="sk-1",
            description="virtual key",
            tags=[{"Key": "Environment", "Value": "Test"}],
            optional_params=team_params,
            timeout=HttpxLikeTimeout(5.0, 10.0, 5.0, None),
        )
        read_back = await manager.async_read_secret(secret_name=stored_name, optional_params=team_params)
        rotated = await manager.async_rotate_secret(
            current_secret_name=stored_name,
            new_secret_name=f"{stored_name}-r",
            new_secret_value="sk-2",
            optional_params=team_params,
        )
        after_rotate = await manager.async_read_secret(secret_name=f"{stored_name}-r", optional_params=team_params)
        old_after_rotate = await manager.async_read_secret(secret_name=stored_name, optional_params=team_params)
        deleted = await manager.async_delete_secret(
            secret_name=f"{stored_name}-r", recovery_window_in_days=0, optional_params=team_params
        )
        return written, read_back, rotated, after_rotate, old_after_rotate, deleted

    written, read_back, rotated, after_rotate, old_after_rotate, deleted = asyncio.run(lifecycle())
    assert written == {"name": stored_name, "version": "1", "source": "local", "warnings": []}
    assert read_back == "sk-1"
    assert rotated == {"name": f"{stored_name}-r", "version": "1", "old_deleted": True}
    assert (after_rotate, old_after_rotate) == ("sk-2", None)
    assert deleted == {"name": f"{stored_name}-r", "recoverable": False}
    assert admin.read(f"{stored_name}-r")[0].error.status == "NOT_FOUND"


def test_rotate_in_place_keeps_the_name(manager, admin, name):
    admin.write(name, "first")
    rotated = asyncio.run(
        manager.async_rotate_secret(current_secret_name=name, new_secret_name=name, new_secret_value="second")
    )
    assert rotated == {"name": name, "version": "2", "old_deleted": False}
    assert manager.sync_read_secret(name) == "second"


def test_failures_raise_secretgate_error_with_the_status_code(manager, name):
    with pytest.raises(SecretGateError) as deleting:
        asyncio.run(manager.async_delete_secret(secret_name=name))
    assert deleting.value.code == grpc.StatusCode.NOT_FOUND

    with pytest.raises(SecretGateError) as rotating:
        asyncio.run(manager.async_rotate_secret(name, f"{name}-new", "v"))
    assert rotating.value.code == grpc.StatusCode.NOT_FOUND

    with pytest.raises(SecretGateError) as writing:
        asyncio.run(manager.async_write_secret(secret_name=name, secret_value=""))
    assert writing.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_an_item_error_other_than_not_found_raises(manager):
    with pytest.raises(SecretGateError) as raised:
        manager.sync_read_secret(secret_name="bad/../name")
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_the_token_comes_from_the_environment(recording_server, monkeypatch):
    servicer, addr = recording_server
    monkeypatch.setenv("SECRETGATE_ADDR", addr)
    monkeypatch.setenv("SECRETGATE_TOKEN", "from-env")
    manager = SecretGate()
    assert manager.sync_read_secret("a") == "recorded"
    assert asyncio.run(manager.async_read_secret("a")) == "recorded"
    assert [m["authorization"] for m in servicer.metadata] == ["Bearer from-env", "Bearer from-env"]


def test_tls_from_a_ca_file_in_the_environment(tls_recording_server, tmp_path, monkeypatch):
    servicer, addr, ca = tls_recording_server
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca)
    monkeypatch.setenv("SECRETGATE_ADDR", addr)
    monkeypatch.setenv("SECRETGATE_CA_FILE", str(ca_file))
    monkeypatch.delenv("SECRETGATE_TOKEN", raising=False)
    assert SecretGate().sync_read_secret("a") == "recorded"
