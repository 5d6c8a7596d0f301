"""Drives the Azure Key Vault emulator with Microsoft's Python SDK (Debian python3-azure).

The emulator must satisfy an SDK it was not written against: azure-identity's
ClientSecretCredential (MSAL for Python) against the emulator's token endpoint, and
azure-keyvault-secrets with its own challenge handling. Prints one JSON object.
"""
import json
import sys

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient


def main() -> None:
    vault, tenant, client_id, client_secret, ca_file = sys.argv[1:6]
    credential = ClientSecretCredential(
        tenant,
        client_id,
        client_secret,
        authority=vault,
        instance_discovery=False,  # this azure-identity (1.13 beta) spells it so; later: disable_instance_discovery=True
        connection_verify=ca_file,
    )
    # A loopback vault is not a *.vault.azure.net host, so the SDK's resource check is off;
    # TLS is verified against the emulator's CA.
    client = SecretClient(vault, credential, verify_challenge_resource=False, connection_verify=ca_file)

    written = client.set_secret("python-check", "from-python", content_type="text/plain", tags={"by": "python"})
    read = client.get_secret("python-check")
    deleted = client.begin_delete_secret("python-check").result()
    in_recycle_bin = client.get_deleted_secret("python-check")
    client.purge_deleted_secret("python-check")
    names_after_purge = [item.name for item in client.list_deleted_secrets()]
    rewritten = client.set_secret("python-check", "again")

    # A disabled secret: Key Vault refuses to get it (403, inner error SecretDisabled); a new version is enabled.
    client.set_secret("python-disabled", "off", enabled=False)
    try:
        client.get_secret("python-disabled")
        disabled_refusal = None
    except HttpResponseError as error:
        disabled_refusal = {
            "status": error.status_code,
            "code": error.error.code if error.error else None,
            "message": error.error.message if error.error else None,
            "inner": (error.error.innererror or {}).get("code") if error.error else None,
        }
    enabled_again = client.set_secret("python-disabled", "on")

    print(json.dumps({
        "written_version": written.properties.version,
        "read_value": read.value,
        "read_version": read.properties.version,
        "read_tags": read.properties.tags,
        "recovery_id": deleted.recovery_id,
        "deleted_name": in_recycle_bin.name,
        "deleted_after_purge": names_after_purge,
        "rewritten_value": rewritten.value,
        "disabled_refusal": disabled_refusal,
        "enabled_again": [enabled_again.properties.enabled, client.get_secret("python-disabled").value],
    }))


if __name__ == "__main__":
    main()
