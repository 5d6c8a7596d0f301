"""Fixtures for the LiteLLM call-shape suite.

test/clients/litellm-call-shapes.test.ts (vitest) starts the Vault emulator and a secretgate on it, and
passes: SECRETGATE_TEST_ADDR (gRPC), SECRETGATE_TEST_TOKEN (the proxy's identity, allowed to send team
settings), SECRETGATE_TEST_PLAIN_TOKEN (an identity that is not), SECRETGATE_TEST_LIMITED_TOKEN (a proxy
identity whose rules let it delete only `litellm/key-*`), SECRETGATE_TEST_ADMIN_TOKEN, and VAULT_TEST_ADDR /
VAULT_TEST_TOKEN (the emulator's HTTP API and its root token, to see where secrets landed).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from typing import Any, Optional

import pytest

from secretgate_client import SecretClient

from litellm_shapes import SecretGate


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set; run this suite through `npx vitest run test/clients/litellm-call-shapes.test.ts`")
    return value


class Vault:
    """The emulator's HTTP API, as any Vault client sees it (root token), plus its admin endpoint."""

    def __init__(self, address: str, token: str) -> None:
        self.address, self.token = address, token

    def configure(self, config: dict) -> None:
        self._send("POST", "/_emulator/configure", config)

    def seal(self, sealed: bool = True) -> None:
        """Seals (or unseals) Vault: while sealed it answers every API call 503 "Vault is sealed"."""
        self._send("PUT", "/_emulator/seal", {"sealed": sealed})

    def secret(self, path: str) -> Optional[dict]:
        """The KV v2 data at `{namespace}/{mount}/data/{path}` (its `data.data`), or None when Vault answers 404."""
        body = self._send("GET", f"/v1/{path}")
        return None if body is None else body["data"]["data"]

    def metadata(self, path: str) -> Optional[dict]:
        """The KV v2 metadata at `{namespace}/{mount}/metadata/{path}`, or None when Vault answers 404."""
        body = self._send("GET", f"/v1/{path}")
        return None if body is None else body["data"]

    def _send(self, method: str, path: str, body: Any = None) -> Optional[dict]:
        request = urllib.request.Request(
            self.address + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"x-vault-token": self.token, "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
        return json.loads(text) if text else {}


@pytest.fixture(scope="session")
def vault() -> Vault:
    return Vault(_required_env("VAULT_TEST_ADDR"), _required_env("VAULT_TEST_TOKEN"))


@pytest.fixture(scope="session")
def address() -> str:
    return _required_env("SECRETGATE_TEST_ADDR")


@pytest.fixture(scope="session")
def admin(address):
    with SecretClient(address, token=_required_env("SECRETGATE_TEST_ADMIN_TOKEN")) as client:
        yield client


def _manager(monkeypatch, address: str, token: str):
    monkeypatch.setenv("SECRETGATE_ADDR", address)
    monkeypatch.setenv("SECRETGATE_TOKEN", token)
    monkeypatch.delenv("SECRETGATE_TIMEOUT", raising=False)
    # LiteLLM's loader: the class named in custom_secret_manager, instantiated without arguments.
    return SecretGate()


@pytest.fixture
def manager(monkeypatch, address):
    return _manager(monkeypatch, address, _required_env("SECRETGATE_TEST_TOKEN"))


@pytest.fixture
def plain_manager(monkeypatch, address):
    return _manager(monkeypatch, address, _required_env("SECRETGATE_TEST_PLAIN_TOKEN"))


@pytest.fixture
def manager_with_token(monkeypatch, address):
    """The adapter as LiteLLM builds it, with a token of the test's choosing."""
    return lambda token: _manager(monkeypatch, address, token)


@pytest.fixture
def limited_manager(monkeypatch, address):
    return _manager(monkeypatch, address, _required_env("SECRETGATE_TEST_LIMITED_TOKEN"))


@pytest.fixture
def alias() -> str:
    """A key alias no other test uses."""
    return f"key-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session", autouse=True)
def teams_in_vault(vault):
    """Team B's namespace and mount, and what secretgate's AppRole may do in both teams' places."""
    everything = ["create", "read", "update", "delete"]
    vault.configure(
        {
            "namespaces": ["admin", "team-b"],
            "kvMounts": [{"namespace": "team-b", "mount": "kv"}],
            "policies": {
                "litellm-teams": [
                    {"path": "admin/secret/*", "capabilities": everything},
                    {"path": "team-b/kv/*", "capabilities": everything},
                ]
            },
        }
    )
