"""AsyncSecretClient (grpc.aio) against the live server: every RPC, and errors carrying their codes."""

import asyncio

import grpc
import pytest

from secretgate_client import AsyncSecretClient, SecretGateError


def run(address, token, scenario):
    async def main():
        async with AsyncSecretClient(address, token=token) as client:
            return await scenario(client)

    return asyncio.run(main())


def test_every_rpc(address, token, name):
    team = f"team-{name}"

    async def scenario(client):
        written = await client.write(name, "async-1", tags={"via": "aio"})
        missing, found = await client.read(f"{name}-missing", name)
        listed = {key.name for key in await client.list_hosted()}
        rotated = await client.rotate(name, "async-2", new_name=f"{name}-2")
        after_rotate = await client.read(f"{name}-2")
        deleted = await client.delete(f"{name}-2", force=True)
        stored = await client.set_team_settings(team, {"description": "team desc"})
        fetched = await client.get_team_settings(team)
        return written, missing, found, listed, rotated, after_rotate, deleted, stored, fetched

    written, missing, found, listed, rotated, after_rotate, deleted, stored, fetched = run(address, token, scenario)
    assert written.name == name and written.source == "local"
    assert missing.error.status == "NOT_FOUND" and found.value == "async-1"
    assert name in listed
    assert rotated.name == f"{name}-2" and rotated.old_deleted and after_rotate[0].value == "async-2"
    assert deleted.name == f"{name}-2"
    assert stored.configured and fetched.settings == {"description": "team desc"} and fetched.updated_at


def test_team_settings_sent_with_each_call(address, token, name):
    inline = {"prefix": "aio-inline/"}

    async def scenario(client):
        written = await client.write(name, "a1", virtual_key=True, team_settings=inline)
        [read] = await client.read(name, virtual_key=True, team_settings=inline)
        rotated = await client.rotate(name, "a2", virtual_key=True, team_settings=inline)
        deleted = await client.delete(name, virtual_key=True, team_settings=inline)
        return written, read, rotated, deleted

    written, read, rotated, deleted = run(address, token, scenario)
    stored = f"aio-inline/{name}"
    assert (written.name, read.resolved_name, read.value, rotated.name, deleted.name) == (stored, stored, "a1", stored, stored)


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda c, n: c.delete(n), grpc.StatusCode.NOT_FOUND),
        (lambda c, n: c.read(), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda c, n: c.set_team_settings(f"team-{n}", {"region": "x"}), grpc.StatusCode.INVALID_ARGUMENT),
    ],
    ids=["delete-missing", "read-no-names", "unknown-team-key"],
)
def test_failures_raise_secretgate_error_with_the_status_code(address, token, name, call, code):
    async def scenario(client):
        with pytest.raises(SecretGateError) as raised:
            await call(client, name)
        return raised.value

    assert run(address, token, scenario).code == code


def test_calls_are_bounded_by_their_deadline(recording_server):
    _, addr = recording_server

    async def scenario(client):
        with pytest.raises(SecretGateError) as raised:
            await client.list_hosted(timeout=0.2)
        return raised.value

    assert run(addr, None, scenario).code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_an_unreachable_server_is_unavailable(closed_port):
    async def main():
        async with AsyncSecretClient(f"127.0.0.1:{closed_port}", timeout=5) as client:
            with pytest.raises(SecretGateError) as raised:
                await client.list_hosted()
            return raised.value

    assert asyncio.run(main()).code == grpc.StatusCode.UNAVAILABLE


def test_the_token_is_sent_as_a_bearer_authorization_header(recording_server):
    servicer, addr = recording_server
    assert run(addr, "aio-token", lambda client: client.read("a"))[0].value == "recorded"
    assert servicer.metadata[0]["authorization"] == "Bearer aio-token"


def test_with_opentelemetry_each_call_carries_the_callers_trace_context(recording_server, opentelemetry_stand_in):
    servicer, addr = recording_server
    run(addr, "aio-token", lambda client: client.read("a"))
    assert (servicer.metadata[0]["traceparent"], servicer.metadata[0]["tracestate"]) == (opentelemetry_stand_in, "vendor=opaque")


def test_tls_with_custom_roots(tls_recording_server):
    servicer, addr, ca = tls_recording_server

    async def main():
        async with AsyncSecretClient(addr, token="aio-tls", root_certificates=ca) as client:
            return await client.read("a")

    assert asyncio.run(main())[0].value == "recorded"
    assert servicer.metadata[0]["authorization"] == "Bearer aio-tls"


def test_check_health_checks_the_server_the_token_and_the_back_end(address, token):
    async def check(with_token):
        async with AsyncSecretClient(address, token=with_token) as client:
            return await client.check_health(timeout=5.0)

    report = asyncio.run(check(token))
    assert report.healthy and report.token.status == "ok", str(report)
    rejected = asyncio.run(check("not-a-token-the-server-knows"))
    assert (rejected.healthy, rejected.token.status) == (False, "failed") and "UNAUTHENTICATED" in rejected.token.detail


def test_a_deadline_of_zero_is_refused_naming_timeout(address):
    async def build():
        AsyncSecretClient(address, timeout=0)

    with pytest.raises(ValueError, match="timeout: a number of seconds greater than 0"):
        asyncio.run(build())
