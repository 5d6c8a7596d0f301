"""Drives the Vault emulator with hvac (Debian's python3-hvac), an independent Vault client.

Usage: hvac_check.py ENDPOINT ROOT_TOKEN ROLE_ID SECRET_ID
Prints one JSON object of observations; the vitest file asserts on them. Any exception fails the run.
"""
import json
import sys

import hvac
from hvac import exceptions

endpoint, root_token, role_id, secret_id = sys.argv[1:5]
seen = {}


def raises(error_type, call):
    try:
        call()
    except error_type:
        return True
    return False


root = hvac.Client(url=endpoint, token=root_token)
seen["root_authenticated"] = root.is_authenticated()
kv = root.secrets.kv.v2

first = kv.create_or_update_secret(path="hvac/roundtrip", secret={"key": "one"})
second = kv.create_or_update_secret(path="hvac/roundtrip", secret={"key": "two"})
seen["written_versions"] = [first["data"]["version"], second["data"]["version"]]
latest = kv.read_secret_version(path="hvac/roundtrip")
seen["latest"] = {"value": latest["data"]["data"]["key"], "version": latest["data"]["metadata"]["version"]}
seen["version_1"] = kv.read_secret_version(path="hvac/roundtrip", version=1)["data"]["data"]["key"]
metadata = kv.read_secret_metadata(path="hvac/roundtrip")["data"]
seen["metadata"] = {"current_version": metadata["current_version"], "versions": sorted(metadata["versions"].keys())}
seen["listed"] = kv.list_secrets(path="")["data"]["keys"]
seen["listed_folder"] = kv.list_secrets(path="cross")["data"]["keys"]
seen["list_of_nothing_missing"] = raises(exceptions.InvalidPath, lambda: kv.list_secrets(path="nothing-here"))
seen["cas_conflict_refused"] = raises(exceptions.InvalidRequest, lambda: kv.create_or_update_secret(path="hvac/roundtrip", secret={"key": "x"}, cas=1))

kv.delete_latest_version_of_secret(path="hvac/roundtrip")
seen["soft_deleted_reads_missing"] = raises(exceptions.InvalidPath, lambda: kv.read_secret_version(path="hvac/roundtrip"))
kv.undelete_secret_versions(path="hvac/roundtrip", versions=[2])
seen["undeleted"] = kv.read_secret_version(path="hvac/roundtrip")["data"]["data"]["key"]
kv.destroy_secret_versions(path="hvac/roundtrip", versions=[1])
seen["destroyed_reads_missing"] = raises(exceptions.InvalidPath, lambda: kv.read_secret_version(path="hvac/roundtrip", version=1))
kv.delete_metadata_and_all_versions(path="hvac/roundtrip")
seen["metadata_deleted"] = raises(exceptions.InvalidPath, lambda: kv.read_secret_metadata(path="hvac/roundtrip"))

approle = hvac.Client(url=endpoint)
login = approle.auth.approle.login(role_id=role_id, secret_id=secret_id)
seen["approle_lease"] = login["auth"]["lease_duration"]
seen["approle_authenticated"] = approle.is_authenticated()
seen["renewed_lease"] = approle.auth.token.renew_self()["auth"]["lease_duration"]
seen["read_driver_write"] = approle.secrets.kv.v2.read_secret_version(path="cross/from-driver")["data"]["data"]
approle.secrets.kv.v2.create_or_update_secret(path="cross/from-hvac", secret={"key": "written by hvac"})
seen["forbidden"] = raises(exceptions.Forbidden, lambda: approle.secrets.kv.v2.read_secret_version(path="elsewhere", mount_point="other"))

print(json.dumps(seen))
