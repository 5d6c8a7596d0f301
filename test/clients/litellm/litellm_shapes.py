"""What LiteLLM passes to a custom secret manager, shared by the call-shape tests (see the docstring of
test_litellm_call_shapes.py for where each shape comes from in LiteLLM's source)."""

from __future__ import annotations

from secretgate_client.litellm import SecretGateSecretManager

try:
    from httpx import Timeout
except ImportError:  # httpx is LiteLLM's dependency, not ours; the adapter reads only these attributes.

    class Timeout:  # type: ignore[no-redef]
        def __init__(self, timeout=None, *, connect=None, read=None, write=None, pool=None):
            self.connect, self.read, self.write, self.pool = connect, read, write, pool


# Two teams' Secret Manager Settings as an admin pastes them for Vault. Team A's is the example of
# LiteLLM's own documentation; team B keeps its keys in another namespace, mount and value field.
TEAM_A = {"namespace": "admin", "mount": "secret", "path_prefix": "litellm"}
TEAM_B = {"namespace": "team-b", "mount": "kv", "path_prefix": "llm", "data": "api_key"}

# What LiteLLM's read handler passes as optional_params: KeyManagementSettings.model_dump() for a
# proxy configured as the README's LiteLLM section says (every field present, most unset).
KEY_MANAGEMENT_SETTINGS_DUMP = {
    "hosted_keys": None,
    "store_virtual_keys": True,
    "prefix_for_stored_virtual_keys": "litellm/",
    "access_mode": "read_and_write",
    "primary_secret_name": None,
    "description": "litellm virtual key",
    "tags": {"Environment": "Prod"},
    "custom_secret_manager": "secretgate_manager.SecretGate",
    "aws_region_name": None,
    "aws_role_name": None,
    "aws_session_name": None,
    "aws_external_id": None,
    "aws_profile_name": None,
    "aws_web_identity_token": None,
    "aws_sts_endpoint": None,
    "replica_regions": None,
}
PREFIX = KEY_MANAGEMENT_SETTINGS_DUMP["prefix_for_stored_virtual_keys"]


def team_a_path(area: str, name: str) -> str:
    return f"admin/secret/{area}/litellm/{name}"


def team_b_path(area: str, name: str) -> str:
    return f"team-b/kv/{area}/llm/{name}"


class CustomSecretManager:
    """Stands in for litellm.integrations.custom_secret_manager.CustomSecretManager (LiteLLM is not
    installed here): its constructor takes secret_manager_name; the loader requires a subclass of it."""

    def __init__(self, secret_manager_name=None, **kwargs):
        super().__init__()
        self.secret_manager_name = secret_manager_name or "custom_secret_manager"


class SecretGate(SecretGateSecretManager, CustomSecretManager):
    """The two-line file README tells operators to put next to the proxy's config.yaml."""
