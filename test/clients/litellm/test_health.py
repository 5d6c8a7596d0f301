"""`validate_environment()` and `async_health_check()` check what a read needs: the server (grpc.health.v1), the
token (WhoAmI, which needs a valid one) and the back end a read reaches (a read of the reserved probe name
`secretgate-readiness-probe`, past the cache), and say which of them failed.

Finding (issue 25): both reported healthy with a rejected token and with Vault sealed, while every read failed.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from litellm_shapes import Timeout


@pytest.fixture
def rejected_token_manager(manager_with_token):
    return manager_with_token("not-a-token-secretgate-knows")


@pytest.fixture
def sealed_vault(vault, manager):
    vault.seal()
    try:
        yield vault
    finally:
        vault.seal(False)
        # Vault answers again: a passing check now also closes the breaker's count of failures.
        assert manager.validate_environment() is True


def test_health_says_the_token_was_rejected(rejected_token_manager, caplog):
    with pytest.raises(ValueError) as refused:
        rejected_token_manager.validate_environment()
    message = str(refused.value)
    assert "token: failed" in message and "UNAUTHENTICATED" in message
    assert "server: ok" in message
    assert "not-a-token-secretgate-knows" not in message
    with caplog.at_level(logging.WARNING, logger="secretgate_client.litellm"):
        assert asyncio.run(rejected_token_manager.async_health_check(timeout=Timeout(2.0))) is False
    [warning] = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "token: failed" in warning.getMessage() and "UNAUTHENTICATED" in warning.getMessage()


def test_health_says_the_back_end_is_not_ready_while_vault_is_sealed(manager, sealed_vault, caplog):
    with pytest.raises(ValueError) as refused:
        manager.validate_environment()
    message = str(refused.value)
    assert "server: ok" in message and "token: ok" in message
    assert "back ends: failed" in message and "UNAVAILABLE" in message and "sealed" in message
    with caplog.at_level(logging.WARNING, logger="secretgate_client.litellm"):
        assert asyncio.run(manager.async_health_check()) is False
    [warning] = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "back ends: failed" in warning.getMessage()


def test_health_is_true_when_the_server_the_token_and_the_back_end_answer(manager, plain_manager):
    for healthy in (manager, plain_manager):
        assert healthy.validate_environment() is True
        assert asyncio.run(healthy.async_health_check(timeout=2.0)) is True
