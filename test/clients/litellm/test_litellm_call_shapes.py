"""The LiteLLM adapter driven in the exact argument shapes LiteLLM uses, against a live secretgate on
HashiCorp Vault (the emulator), with two teams whose Vault namespaces differ; each test looks in Vault
(its HTTP API) to see where every secret landed.

How LiteLLM calls a custom secret manager — facts about its interface, read from its source
(github.com/BerriAI/litellm), in our words:

* Reads. ``get_secret`` (litellm/secret_managers/main.py) strips ``os.environ/`` and, for
  ``key_management_system: custom``, the handler (litellm/secret_managers/secret_manager_handler.py)
  calls ``sync_read_secret(secret_name=…, optional_params=key_management_settings.model_dump())``:
  keyword arguments, no timeout, and as ``optional_params`` the proxy-wide ``KeyManagementSettings``
  (litellm/types/secret_managers/main.py) with all 16 of its fields, set or not. A read never names a
  team. ``None`` makes the handler raise, and ``get_secret`` then reads the proxy's own environment.
* Writes. After ``/key/generate``, ``KeyManagementEventHooks._store_virtual_key_in_secret_manager``
  (litellm/proxy/hooks/key_management_event_hooks.py) calls ``async_write_secret(secret_name=…,
  description=…, secret_value=…, tags=…, optional_params=…)``. The name is
  ``prefix_for_stored_virtual_keys`` + the key alias (or ``virtual-key-<token id>``); description and
  tags are the proxy-wide settings' (tags a ``Dict[str, str]``; ``BaseSecretManager`` also documents
  AWS's ``[{"Key": …, "Value": …}]`` list); no timeout. ``optional_params`` is a copy of the key's
  team's ``metadata["secret_manager_settings"]`` — exactly what an admin pasted into the team's Secret
  Manager Settings — or ``None`` when the key has no team, the team has none, or they are empty
  (``_get_secret_manager_optional_params``).
* Rotations. After ``/key/regenerate``: ``async_rotate_secret(current_secret_name=…, new_secret_name=…,
  new_secret_value=…, optional_params=…)``, the team's settings as for writes; the new name is the
  current one unless the alias changed.
* Deletes. After ``/key/delete``, one loop over the deleted keys: for each key with an alias,
  ``async_delete_secret(secret_name=…, optional_params=…)`` (``recovery_window_in_days`` left at its
  default, 7). Team settings are looked up once per team and the same dict is passed for each of its
  keys. Nothing in the loop catches an exception: one failure leaves the later keys' secrets behind.
* Timeouts. ``BaseSecretManager`` (litellm/secret_managers/base_secret_manager.py) types ``timeout`` as
  a float or an ``httpx.Timeout``; the hooks and the read handler pass none.
* ``CustomSecretManager`` (litellm/integrations/custom_secret_manager.py) adds ``validate_environment()``
  (True, or ValueError) and ``async_health_check(timeout)`` (a bool).
* Failure results. LiteLLM's own managers answer a failed write or delete with ``{"status": "error",
  "message": str(e)}`` rather than raising (litellm/secret_managers/hashicorp_secret_manager.py).
* Loading. ``custom_secret_manager`` names ``<file>.<class>``; LiteLLM builds the class without arguments
  when the proxy starts, so the adapter's settings come from the environment.
"""

from __future__ import annotations

import asyncio
import copy

import grpc
import pytest

from secretgate_client import SecretGateError

from litellm_shapes import KEY_MANAGEMENT_SETTINGS_DUMP, PREFIX, TEAM_A, TEAM_B, Timeout, team_a_path, team_b_path


def test_a_read_with_the_settings_dump_and_no_team_reads_the_configured_location(manager, plain_manager, admin, alias):
    name = f"OPENAI_API_KEY_{alias}"
    admin.write(name, "sk-provider-key")
    # The dump's description and tags are the proxy's own: were they sent as team settings, Vault
    # would refuse them as unknown team keys, and the plain identity may send none at all.
    for reader in (manager, plain_manager):
        assert reader.sync_read_secret(secret_name=name, optional_params=KEY_MANAGEMENT_SETTINGS_DUMP) == "sk-provider-key"
        assert reader.sync_read_secret(secret_name=f"{name}_MISSING", optional_params=KEY_MANAGEMENT_SETTINGS_DUMP) is None


def test_writes_land_in_each_teams_namespace_and_a_key_without_a_team_in_the_configured_one(manager, vault, alias):
    name = f"{PREFIX}{alias}"

    async def generate_keys():
        # /key/generate for the same alias in team A, team B and no team, as the hook calls it.
        await manager.async_write_secret(
            secret_name=name,
            description="litellm virtual key",
            secret_value="sk-team-a",
            tags={"Environment": "Prod"},
            optional_params=dict(TEAM_A),
        )
        await manager.async_write_secret(
            secret_name=name,
            description="litellm virtual key",
            secret_value="sk-team-b",
            tags=[{"Key": "Environment", "Value": "Prod"}, {"Key": "Team", "Value": "b"}],
            optional_params=dict(TEAM_B),
            timeout=Timeout(5.0, connect=2.0, read=5.0, write=5.0, pool=None),
        )
        return await manager.async_write_secret(
            secret_name=name, description=None, secret_value="sk-no-team", tags=None, optional_params=None
        )

    no_team = asyncio.run(generate_keys())
    assert no_team == {"name": name, "version": "1", "source": "hashicorp_vault", "warnings": []}
    assert vault.secret(team_a_path("data", name)) == {"key": "sk-team-a", "description": "litellm virtual key"}
    assert vault.metadata(team_a_path("metadata", name))["custom_metadata"] == {"Environment": "Prod"}
    assert vault.secret(team_b_path("data", name)) == {"api_key": "sk-team-b", "description": "litellm virtual key"}
    assert vault.metadata(team_b_path("metadata", name))["custom_metadata"] == {"Environment": "Prod", "Team": "b"}
    assert vault.secret(f"secret/data/{name}") == {"key": "sk-no-team"}

    async def read_back():
        return [await manager.async_read_secret(name, optional_params=team) for team in (dict(TEAM_A), dict(TEAM_B), None)]

    assert asyncio.run(read_back()) == ["sk-team-a", "sk-team-b", "sk-no-team"]


def test_a_team_id_in_the_settings_names_secretgates_stored_team_and_the_pasted_keys_win(manager, admin, vault, alias):
    team_id = f"litellm-team-{alias}"
    admin.set_team_settings(team_id, {"namespace": "admin", "path_prefix": "stored"})
    name = f"{PREFIX}{alias}"
    pasted = {"team_id": team_id, "path_prefix": "pasted"}
    asyncio.run(manager.async_write_secret(secret_name=name, secret_value="sk-merged", optional_params=pasted))
    assert vault.secret(f"admin/secret/data/pasted/{name}") == {"key": "sk-merged"}
    assert vault.secret(f"admin/secret/data/stored/{name}") is None
    assert pasted == {"team_id": team_id, "path_prefix": "pasted"}


def test_the_delete_loop_runs_to_the_end_when_one_key_was_never_stored(manager, vault, alias):
    held = [f"{PREFIX}{alias}-1", f"{PREFIX}{alias}-3"]
    never_stored = f"{PREFIX}{alias}-2"

    async def store():
        for name in held:
            await manager.async_write_secret(secret_name=name, secret_value=f"sk-{name[-1]}", optional_params=dict(TEAM_A))

    asyncio.run(store())

    async def delete_keys():
        # The hook's loop: settings looked up once per team, the same dict passed for each of its keys,
        # no try/except around the call.
        team_settings_cache = {}
        results = []
        for name in (held[0], never_stored, held[1]):
            if "team-a" not in team_settings_cache:
                team_settings_cache["team-a"] = copy.deepcopy(TEAM_A)
            results.append(await manager.async_delete_secret(secret_name=name, optional_params=team_settings_cache["team-a"]))
        return results, team_settings_cache["team-a"]

    (first, missing, last), settings_after = asyncio.run(delete_keys())
    assert first == {"name": held[0], "recoverable": True}
    assert missing == {"status": "not_found", "secret_name": never_stored}
    assert last == {"name": held[1], "recoverable": True}
    assert settings_after == TEAM_A
    for name in held:
        # Deleted with Vault's default (soft) delete: the data is gone, the versions' metadata kept.
        assert vault.secret(team_a_path("data", name)) is None
        assert vault.metadata(team_a_path("metadata", name)) is not None


def test_rotation_to_a_new_alias_moves_the_key_within_its_team_and_in_place_adds_a_version(manager, vault, alias):
    old, new = f"{PREFIX}{alias}-old", f"{PREFIX}{alias}-new"
    kept = f"{PREFIX}{alias}-kept"

    async def regenerate():
        await manager.async_write_secret(secret_name=old, secret_value="sk-before", optional_params=dict(TEAM_A))
        await manager.async_write_secret(secret_name=kept, secret_value="sk-before", optional_params=dict(TEAM_B))
        renamed = await manager.async_rotate_secret(
            current_secret_name=old, new_secret_name=new, new_secret_value="sk-renamed", optional_params=dict(TEAM_A)
        )
        in_place = await manager.async_rotate_secret(
            current_secret_name=kept, new_secret_name=kept, new_secret_value="sk-in-place", optional_params=dict(TEAM_B)
        )
        return renamed, in_place

    renamed, in_place = asyncio.run(regenerate())
    assert renamed == {"name": new, "version": "1", "old_deleted": True}
    assert vault.secret(team_a_path("data", new)) == {"key": "sk-renamed"}
    assert vault.secret(team_a_path("data", old)) is None
    assert in_place == {"name": kept, "version": "2", "old_deleted": False}
    assert vault.secret(team_b_path("data", kept)) == {"api_key": "sk-in-place"}
    assert vault.metadata(team_b_path("metadata", kept))["current_version"] == 2


def test_team_settings_from_an_identity_not_allowed_to_send_them_are_refused_and_nothing_is_written(plain_manager, vault, alias):
    name = f"{PREFIX}{alias}"
    with pytest.raises(SecretGateError) as refused:
        asyncio.run(plain_manager.async_write_secret(secret_name=name, secret_value="sk-refused", optional_params=dict(TEAM_A)))
    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert "inline_team_settings" in refused.value.details
    assert vault.secret(team_a_path("data", name)) is None
    assert vault.secret(f"secret/data/{name}") is None


def test_settings_pasted_for_another_back_end_are_refused_naming_the_key(manager, vault, alias):
    name = f"{PREFIX}{alias}"
    with pytest.raises(SecretGateError) as refused:
        asyncio.run(
            manager.async_write_secret(
                secret_name=name, secret_value="sk-refused", optional_params={"namespace": "admin", "aws_region_name": "eu-west-1"}
            )
        )
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert 'team_settings: unknown key "aws_region_name"' in refused.value.details
    assert vault.secret(team_a_path("data", name)) is None


def test_the_health_check_and_environment_validation_ask_secretgate(manager):
    assert manager.validate_environment() is True
    assert asyncio.run(manager.async_health_check(timeout=Timeout(2.0))) is True
