"""SecretGateSecretManager called the way LiteLLM calls it, against the live server.

LiteLLM is not installed here (and the adapter must not need it), so `CustomSecretManager` below is a
stand-in with LiteLLM's shape: an ABC whose read methods are abstract and whose constructor takes
`secret_manager_name`. LiteLLM's loader requires a subclass of it and instantiates it without
arguments; `SecretGate` is the two-line file docs/clients.md tells users to put next to config.yaml.
"""

import asyncio
import logging
import os
from abc import ABC, abstractmethod
from concurrent import futures

import grpc
import pytest
from google.protobuf import wrappers_pb2

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
def not_serving():
    """A server whose grpc.health.v1 Check answers NOT_SERVING, as secretgate's does while it shuts down."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    check = grpc.unary_unary_rpc_method_handler(
        lambda request, context: wrappers_pb2.Int32Value(value=2),
        request_deserializer=wrappers_pb2.StringValue.FromString,
        response_serializer=wrappers_pb2.Int32Value.SerializeToString,
    )
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": check})])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


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


def test_deleting_a_name_secretgate_does_not_hold_answers_litellms_not_found_result(manager, admin, name, caplog):
    # LiteLLM's key-delete hook loops over the keys without catching: one raise would leave the rest behind.
    admin.write(f"{name}-held", "sk-held")

    async def delete_all():
        return [await manager.async_delete_secret(secret_name=n) for n in (f"{name}-never", f"{name}-held")]

    with caplog.at_level(logging.INFO, logger="secretgate_client.litellm"):
        missing, held = asyncio.run(delete_all())
    assert missing == {"status": "not_found", "secret_name": f"{name}-never"}
    assert held == {"name": f"{name}-held", "recoverable": False}
    assert admin.read(f"{name}-held")[0].error.status == "NOT_FOUND"
    [record] = [r for r in caplog.records if r.name == "secretgate_client.litellm"]
    assert record.levelno == logging.INFO and f"{name}-never" in record.getMessage()


def test_failures_raise_secretgate_error_with_the_status_code(manager, name):
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


def test_the_default_deadline_is_3_seconds_and_secretgate_timeout_overrides_it(recording_server, monkeypatch):
    servicer, addr = recording_server
    monkeypatch.setenv("SECRETGATE_ADDR", addr)
    monkeypatch.delenv("SECRETGATE_TIMEOUT", raising=False)
    SecretGate().sync_read_secret("a")
    monkeypatch.setenv("SECRETGATE_TIMEOUT", "7")
    SecretGate().sync_read_secret("a")
    # The seconds left on arrival: the deadline sent, less transit, rounded up by gRPC's timeout encoding.
    default, overridden = servicer.seconds_left
    assert 1.0 < default < 4.0
    assert 5.0 < overridden < 8.0


def test_health_check_and_validate_environment_ask_secretgates_health(manager):
    assert manager.validate_environment() is True
    assert asyncio.run(manager.async_health_check()) is True
    assert asyncio.run(manager.async_health_check(timeout=HttpxLikeTimeout(2.0, 2.0, 2.0, None))) is True


def test_health_check_and_validate_environment_say_what_failed(closed_port, not_serving, monkeypatch, caplog):
    monkeypatch.setenv("SECRETGATE_ADDR", f"127.0.0.1:{closed_port}")
    unreachable = SecretGate()
    with pytest.raises(ValueError, match=rf"127\.0\.0\.1:{closed_port} is not healthy: server: failed \(did not answer its health check: UNAVAILABLE"):
        unreachable.validate_environment()
    with caplog.at_level(logging.WARNING, logger="secretgate_client.litellm"):
        assert asyncio.run(unreachable.async_health_check()) is False
    assert "UNAVAILABLE" in caplog.text

    monkeypatch.setenv("SECRETGATE_ADDR", not_serving)
    stopping = SecretGate()
    with pytest.raises(ValueError, match=r"is not healthy: server: failed \(its health check answered NOT_SERVING\)"):
        stopping.validate_environment()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="secretgate_client.litellm"):
        assert asyncio.run(stopping.async_health_check()) is False
    assert "NOT_SERVING" in caplog.text


def test_every_event_loop_is_served_by_the_one_channel_with_nothing_to_close_per_loop(manager, admin, name):
    admin.write(name, "sk-loops")
    assert asyncio.run(manager.async_read_secret(name)) == "sk-loops"
    assert asyncio.run(manager.async_read_secret(name)) == "sk-loops"
    # The channel the loops used outlives them: the next blocking read uses it too.
    assert manager.sync_read_secret(name) == "sk-loops"


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


@pytest.fixture
def write_only_manager(monkeypatch):
    """The adapter pointed at a second live server whose config says access_mode: write_only, so
    every read is one LiteLLM would answer from the proxy's environment."""
    address = os.environ.get("SECRETGATE_TEST_WRITE_ONLY_ADDR")
    if not address:
        raise RuntimeError("SECRETGATE_TEST_WRITE_ONLY_ADDR is not set; run through `npx vitest run test/clients/python.test.ts`")
    monkeypatch.setenv("SECRETGATE_ADDR", address)
    monkeypatch.setenv("SECRETGATE_TOKEN", os.environ["SECRETGATE_TEST_TOKEN"])
    return SecretGate()


def test_a_name_secretgate_does_not_host_is_read_from_the_proxys_own_environment(write_only_manager, name, monkeypatch):
    monkeypatch.setenv(name, "from-the-proxy-environment")
    assert write_only_manager.sync_read_secret(secret_name=name) == "from-the-proxy-environment"
    assert write_only_manager.sync_read_secret(secret_name=f"os.environ/{name}") == "from-the-proxy-environment"
    assert asyncio.run(write_only_manager.async_read_secret(secret_name=name)) == "from-the-proxy-environment"
    # Not in this process's environment either: LiteLLM's miss.
    assert write_only_manager.sync_read_secret(secret_name=f"{name}-unset") is None


def test_a_name_the_back_end_does_not_hold_is_a_miss_even_when_the_proxy_environment_has_it(manager, name, monkeypatch):
    # The server hosts every name (no hosted_keys), so its "not found" is the back end's answer.
    monkeypatch.setenv(name, "must-not-be-used")
    assert manager.sync_read_secret(secret_name=name) is None
    assert asyncio.run(manager.async_read_secret(secret_name=name)) is None


def test_health_reaches_the_back_end_when_hosted_keys_leave_the_probe_name_out(monkeypatch):
    # The README's configuration hosts a few provider keys only; the probe name is read from the back end all the same.
    address = os.environ.get("SECRETGATE_TEST_HOSTED_KEYS_ADDR")
    if not address:
        raise RuntimeError("SECRETGATE_TEST_HOSTED_KEYS_ADDR is not set; run through `npx vitest run test/clients/python.test.ts`")
    monkeypatch.setenv("SECRETGATE_ADDR", address)
    monkeypatch.setenv("SECRETGATE_TOKEN", os.environ["SECRETGATE_TEST_TOKEN"])
    manager = SecretGate()
    assert manager.validate_environment() is True
    report = manager._client.check_health()
    assert report.backends.status == "ok" and "not found in local" in report.backends.detail, str(report)


def test_health_on_a_write_only_server_says_the_back_end_was_not_checked(write_only_manager):
    # write_only serves no reads, so no read reaches a back end: healthy, and the report says why it did not look.
    assert write_only_manager.validate_environment() is True
    report = write_only_manager._client.check_health()
    assert report.backends.status == "not checked" and "write_only" in report.backends.detail, str(report)
