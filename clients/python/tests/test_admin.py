"""AdminClient, AsyncAdminClient and SecretClient.admin (secretgate.v1.AdminService) against the live server."""

import asyncio

import grpc
import pytest

from secretgate_client import AdminClient, AsyncAdminClient, AsyncSecretClient, SecretClient, SecretGateError


def test_the_operators_rpcs_through_the_admin_client(address, token, name):
    team = f"team-{name}"
    with SecretClient(address, token=token) as secrets, AdminClient(address, token=token) as admin:
        me = admin.who_am_i()
        assert me.name == "admin" and me.admin and list(me.read) == ["*"]
        assert [backend.name for backend in admin.describe_backends()] == ["local"]
        assert [backend.name for backend in admin.get_stats().backends] == ["local"]
        assert "admin" in [caller.name for caller in admin.list_callers()]
        secrets.set_team_settings(team, {"prefix": "p/"})
        assert team in [summary.team_id for summary in admin.list_teams(page_size=1000).teams]
        tested = admin.test_team_settings({"prefix": "p/"}, team_id=team)
        assert tested.backend == "local" and tested.reachable and tested.status == "OK"
        with pytest.raises(SecretGateError) as same:
            admin.plan_migration("local", "local")
        assert same.value.code == grpc.StatusCode.INVALID_ARGUMENT and "from_backend" in same.value.details


def test_the_secret_client_reaches_the_admin_rpcs_on_its_own_channel(address, token):
    with SecretClient(address, token=token) as secrets:
        assert secrets.admin.who_am_i().name == "admin"
        assert secrets.admin is secrets.admin


def test_the_audit_tail_yields_the_records_written_meanwhile(address, token, name):
    with SecretClient(address, token=token) as secrets:
        records = secrets.admin.tail_audit()
        first = next(records)  # the tail's own record: it is open
        assert first.method == "TailAudit"
        secrets.write(name, "tailed-value")
        for record in records:
            if record.method == "Write" and name in record.names:
                assert "tailed-value" not in record.json
                break
        records.close()


def test_without_a_token_every_admin_rpc_is_unauthenticated(address):
    with AdminClient(address) as admin:
        with pytest.raises(SecretGateError) as raised:
            admin.who_am_i()
    assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED and raised.value.method == "WhoAmI"


def test_the_asyncio_admin_client(address, token):
    async def main():
        async with AsyncAdminClient(address, token=token) as admin:
            me = await admin.who_am_i()
            backends = await admin.describe_backends()
        async with AsyncSecretClient(address, token=token) as secrets:
            shared = await secrets.admin.who_am_i()
        return me, backends, shared

    me, backends, shared = asyncio.run(main())
    assert me.name == "admin" and shared.name == "admin"
    assert [backend.name for backend in backends] == ["local"]


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), 3601, "3"])
def test_an_admin_clients_deadline_that_is_no_deadline_is_refused_naming_timeout(address, timeout):
    with pytest.raises(ValueError, match="timeout: a number of seconds greater than 0"):
        AdminClient(address, timeout=timeout)
    with AdminClient(address) as admin, pytest.raises(ValueError, match="timeout: a number of seconds greater than 0"):
        admin.who_am_i(timeout=timeout)


def test_an_asyncio_admin_clients_deadline_that_is_no_deadline_is_refused_naming_timeout(address):
    async def main():
        with pytest.raises(ValueError, match="timeout: a number of seconds greater than 0"):
            AsyncAdminClient(address, timeout=0)
        admin = AsyncAdminClient(address)
        try:
            with pytest.raises(ValueError, match="timeout: a number of seconds greater than 0"):
                await admin.who_am_i(timeout=0)
        finally:
            await admin.close()

    asyncio.run(main())
