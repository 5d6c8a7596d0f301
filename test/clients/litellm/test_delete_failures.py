"""Deletes never raise out of LiteLLM's `/key/delete` hook: its loop over the deleted keys catches nothing, so
one exception leaves every later key's secret behind (and LiteLLM shows it only as "Task exception was never
retrieved"). Any failure is logged once at WARNING, naming the secret and the status, and answered as LiteLLM's
own managers answer one (litellm/secret_managers/hashicorp_secret_manager.py: `{"status": "error", "message": …}`).

Finding (issue 25): a delete refused by the rules (PERMISSION_DENIED) raised out of the hook, and the keys after
it in the same `/key/delete` were never deleted.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from litellm_shapes import PREFIX, TEAM_A, SecretGate, team_a_path


def delete_hook(manager, names, team_settings):
    """LiteLLM's loop: settings looked up once per team, the same dict for each key, nothing caught."""

    async def delete_all():
        return [await manager.async_delete_secret(secret_name=name, optional_params=team_settings) for name in names]

    return asyncio.run(delete_all())


def warnings_of(caplog):
    return [record for record in caplog.records if record.name == "secretgate_client.litellm" and record.levelno >= logging.WARNING]


def test_a_delete_refused_by_the_rules_answers_litellms_failure_result_and_the_loop_deletes_the_keys_after_it(limited_manager, manager, vault, alias, caplog):
    # The limited identity may delete litellm/key-* only: the "vip" key in the middle is refused.
    first, refused, last = f"{PREFIX}{alias}-1", f"{PREFIX}vip-{alias}", f"{PREFIX}{alias}-3"

    async def store():
        for name in (first, refused, last):
            await manager.async_write_secret(secret_name=name, secret_value="sk-stored", optional_params=dict(TEAM_A))

    asyncio.run(store())
    with caplog.at_level(logging.INFO, logger="secretgate_client.litellm"):
        results = delete_hook(limited_manager, (first, refused, last), dict(TEAM_A))
    assert results[0] == {"name": first, "recoverable": True}
    assert results[1]["status"] == "error" and results[1]["secret_name"] == refused and results[1]["code"] == "PERMISSION_DENIED"
    assert "may not delete" in results[1]["message"]
    assert results[2] == {"name": last, "recoverable": True}
    assert vault.secret(team_a_path("data", first)) is None and vault.secret(team_a_path("data", last)) is None
    assert vault.secret(team_a_path("data", refused)) == {"key": "sk-stored"}
    [warning] = warnings_of(caplog)
    assert refused in warning.getMessage() and "PERMISSION_DENIED" in warning.getMessage()


@pytest.fixture
def unreachable_manager(monkeypatch, closed_port):
    monkeypatch.setenv("SECRETGATE_ADDR", f"127.0.0.1:{closed_port}")
    monkeypatch.setenv("SECRETGATE_TIMEOUT", "2")
    return SecretGate()


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_manager(monkeypatch):
    """A server that accepts connections and never answers (a hung secretgate), with a short deadline."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        monkeypatch.setenv("SECRETGATE_ADDR", f"127.0.0.1:{listener.getsockname()[1]}")
        monkeypatch.setenv("SECRETGATE_TIMEOUT", "0.3")
        yield SecretGate()


@pytest.mark.parametrize(("fixture", "status"), [("unreachable_manager", "UNAVAILABLE"), ("silent_manager", "DEADLINE_EXCEEDED")])
def test_a_delete_that_cannot_reach_secretgate_answers_litellms_failure_result_once_per_key(request, fixture, status, alias, caplog):
    failing = request.getfixturevalue(fixture)
    names = [f"{PREFIX}{alias}-1", f"{PREFIX}{alias}-2"]
    with caplog.at_level(logging.INFO, logger="secretgate_client.litellm"):
        results = delete_hook(failing, names, None)
    assert [(result["status"], result["secret_name"], result["code"]) for result in results] == [("error", name, status) for name in names]
    warnings = warnings_of(caplog)
    assert len(warnings) == len(names)
    for name, warning in zip(names, warnings):
        assert name in warning.getMessage() and status in warning.getMessage()
