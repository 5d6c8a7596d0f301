"""A team's Secret Manager Settings on writes, rotations and deletes: forwarded whole, never mistaken for
the proxy-wide settings dump LiteLLM passes on reads.

Finding (issue 25): a team whose settings hold the proxy-wide block an admin pasted plus the team's own keys
(`namespace`, `mount`) had its key stored at the root (`secret/data/litellm/…`), not in `team-b/kv`, with no
warning: the adapter's "this is the proxy-wide dump" test ran on every call, although LiteLLM passes that dump
only on reads. LiteLLM's own keys (`store_virtual_keys`, `prefix_for_stored_virtual_keys`, `access_mode`, …)
mean nothing to a back end; secretgate applies its own configuration's, so a team's copy of them is refused,
naming them, and nothing is written, rotated or deleted anywhere.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest

from secretgate_client import SecretGateError

from litellm_shapes import KEY_MANAGEMENT_SETTINGS_DUMP, PREFIX

TEAM_B_LOCATION = {"namespace": "team-b", "mount": "kv"}

# The team: the proxy-wide block pasted into the team's Secret Manager Settings, plus its own keys.
PASTED_BLOCK_AND_TEAM_B = {
    "hosted_keys": None,
    "store_virtual_keys": True,
    "prefix_for_stored_virtual_keys": "litellm/",
    "access_mode": "read_and_write",
    **TEAM_B_LOCATION,
}
LITELLMS_OWN_KEYS_SET = ("store_virtual_keys", "prefix_for_stored_virtual_keys", "access_mode")


def assert_refused_naming_litellms_keys(details: str) -> None:
    for key in LITELLMS_OWN_KEYS_SET:
        assert f'"{key}"' in details, details
    assert "key_management_settings" in details, details


def test_a_write_with_the_proxy_wide_block_pasted_into_a_teams_settings_is_refused_naming_its_keys_and_nothing_lands_at_the_root(manager, vault, alias):
    name = f"{PREFIX}{alias}"
    with pytest.raises(SecretGateError) as refused:
        asyncio.run(
            manager.async_write_secret(
                secret_name=name,
                description="litellm virtual key",
                secret_value="sk-kms",
                tags={"Environment": "Prod"},
                optional_params=dict(PASTED_BLOCK_AND_TEAM_B),
            )
        )
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert_refused_naming_litellms_keys(refused.value.details)
    assert vault.secret(f"secret/data/{name}") is None
    assert vault.secret(f"team-b/kv/data/{name}") is None


def test_a_write_whose_team_settings_are_only_the_pasted_proxy_wide_block_is_refused_not_stored_at_the_root(manager, vault, alias):
    # Exactly the four keys the dump test looked for, and nothing else: a team's settings all the same.
    name = f"{PREFIX}{alias}"
    only_the_block = {key: PASTED_BLOCK_AND_TEAM_B[key] for key in ("hosted_keys", *LITELLMS_OWN_KEYS_SET)}
    with pytest.raises(SecretGateError) as refused:
        asyncio.run(manager.async_write_secret(secret_name=name, secret_value="sk-kms", optional_params=only_the_block))
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert_refused_naming_litellms_keys(refused.value.details)
    assert vault.secret(f"secret/data/{name}") is None


def test_a_rotation_with_the_pasted_block_is_refused_naming_its_keys_and_the_teams_key_is_untouched(manager, vault, alias):
    name = f"{PREFIX}{alias}"
    asyncio.run(manager.async_write_secret(secret_name=name, secret_value="sk-before", optional_params=dict(TEAM_B_LOCATION)))
    with pytest.raises(SecretGateError) as refused:
        asyncio.run(
            manager.async_rotate_secret(
                current_secret_name=name, new_secret_name=name, new_secret_value="sk-after", optional_params=dict(PASTED_BLOCK_AND_TEAM_B)
            )
        )
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert_refused_naming_litellms_keys(refused.value.details)
    assert vault.secret(f"team-b/kv/data/{name}") == {"key": "sk-before"}
    assert vault.secret(f"secret/data/{name}") is None


def test_a_delete_with_the_pasted_block_answers_litellms_failure_result_naming_its_keys_and_the_teams_key_stays(manager, vault, alias, caplog):
    name = f"{PREFIX}{alias}"
    asyncio.run(manager.async_write_secret(secret_name=name, secret_value="sk-kept", optional_params=dict(TEAM_B_LOCATION)))
    with caplog.at_level(logging.INFO, logger="secretgate_client.litellm"):
        result = asyncio.run(manager.async_delete_secret(secret_name=name, optional_params=dict(PASTED_BLOCK_AND_TEAM_B)))
    assert result["status"] == "error" and result["secret_name"] == name and result["code"] == "INVALID_ARGUMENT"
    assert_refused_naming_litellms_keys(result["message"])
    assert vault.secret(f"team-b/kv/data/{name}") == {"key": "sk-kept"}


def test_the_settings_dump_is_still_recognised_on_reads(manager, admin, alias):
    # The other side of the same rule: on reads LiteLLM passes its proxy-wide settings, which are not forwarded.
    name = f"OPENAI_API_KEY_{alias}"
    admin.write(name, "sk-provider")
    assert manager.sync_read_secret(secret_name=name, optional_params=dict(KEY_MANAGEMENT_SETTINGS_DUMP)) == "sk-provider"
    assert asyncio.run(manager.async_read_secret(secret_name=name, optional_params=dict(KEY_MANAGEMENT_SETTINGS_DUMP))) == "sk-provider"
