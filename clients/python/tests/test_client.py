"""SecretClient (blocking) against the live server: every RPC, and errors carrying their codes."""

import grpc
import pytest

from secretgate_client import SecretClient, SecretGateError


@pytest.fixture
def client(address, token):
    with SecretClient(address, token=token) as client:
        yield client


def test_write_then_read_returns_the_value_in_request_order(client, name):
    written = client.write(name, "value-1", description="made by a test", tags={"owner": "pytest"})
    assert (written.name, written.version, written.source) == (name, "1", "local")

    results = client.read(f"{name}-missing", name)
    assert [r.name for r in results] == [f"{name}-missing", name]
    missing, found = results
    assert not missing.found and missing.error.status == "NOT_FOUND" and missing.error.code == 5
    assert found.found and found.value == "value-1" and found.source == "local" and found.version == "1"


def test_bytes_are_written_and_read_as_binary(client, name):
    client.write(name, b"\x00\xffbinary")
    [result] = client.read(name)
    assert result.found and result.binary_value == b"\x00\xffbinary" and result.value == ""


def test_virtual_key_and_team_prefixes_apply_to_the_stored_name(client, name):
    assert client.write(name, "vk", virtual_key=True).name == f"litellm/{name}"
    team = f"team-{name}"
    client.set_team_settings(team, {"prefix": "team-prefix/"})
    assert client.write(name, "tv", team_id=team, virtual_key=True).name == f"team-prefix/{name}"
    [result] = client.read(name, team_id=team, virtual_key=True)
    assert result.value == "tv" and result.resolved_name == f"team-prefix/{name}"


def test_team_settings_sent_with_each_call_apply_to_that_call_only(client, name):
    inline = {"prefix": "py-inline/"}
    assert client.write(name, "iv", virtual_key=True, team_settings=inline).name == f"py-inline/{name}"
    [result] = client.read(name, virtual_key=True, team_settings=inline)
    assert result.value == "iv" and result.resolved_name == f"py-inline/{name}"
    [default] = client.read(name, virtual_key=True)
    assert default.resolved_name == f"litellm/{name}" and not default.found
    rotated = client.rotate(name, "iv2", new_name=f"{name}-2", virtual_key=True, team_settings=inline)
    assert rotated.name == f"py-inline/{name}-2"
    assert client.delete(f"{name}-2", virtual_key=True, team_settings=inline).name == f"py-inline/{name}-2"
    with pytest.raises(SecretGateError) as refused:
        client.write(name, "x", team_settings={"namespace": "vault-only"})
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT and "team_settings" in refused.value.details


def test_delete_removes_the_secret_and_a_second_delete_is_not_found(client, name):
    client.write(name, "doomed")
    assert client.delete(name, force=True).name == name
    [result] = client.read(name)
    assert not result.found and result.error.status == "NOT_FOUND"
    with pytest.raises(SecretGateError) as raised:
        client.delete(name)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND and raised.value.method == "Delete"
    assert name in raised.value.details


def test_rotate_in_place_and_to_a_new_name(client, name):
    client.write(name, "old")
    in_place = client.rotate(name, "newer")
    assert (in_place.name, in_place.version, in_place.old_deleted) == (name, "2", False)
    assert client.read(name)[0].value == "newer"

    moved = client.rotate(name, "newest", new_name=f"{name}-moved")
    assert moved.name == f"{name}-moved" and moved.old_deleted
    old, new = client.read(name, f"{name}-moved")
    assert not old.found and new.value == "newest"


def test_list_hosted_lists_stored_names_without_values(client, name):
    client.write(name, "listed-value")
    keys = {key.name: key for key in client.list_hosted()}
    assert keys[name].resolves and keys[name].source == "local"
    assert "listed-value" not in str(client.list_hosted())


def test_team_settings_round_trip_and_clear(client, name):
    team = f"team-{name}"
    stored = client.set_team_settings(team, {"prefix": "p/", "tags": {"env": "test"}})
    assert stored.configured and stored.settings == {"prefix": "p/", "tags": {"env": "test"}}

    fetched = client.get_team_settings(team)
    assert fetched.team_id == team and fetched.configured and fetched.settings["prefix"] == "p/"
    assert fetched.updated_at is not None

    assert not client.set_team_settings(team, {}).configured
    assert not client.get_team_settings(team).configured


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda c, n: c.read(), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda c, n: c.set_team_settings(f"team-{n}", {"no_such_key": 1}), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda c, n: c.write(n, ""), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda c, n: c.rotate(n, "v"), grpc.StatusCode.NOT_FOUND),
    ],
    ids=["read-no-names", "unknown-team-key", "empty-value", "rotate-missing"],
)
def test_failures_raise_secretgate_error_with_the_status_code(client, name, call, code):
    with pytest.raises(SecretGateError) as raised:
        call(client, name)
    assert raised.value.code == code


def test_calls_are_bounded_by_the_default_or_their_own_deadline(recording_server):
    _, addr = recording_server
    with SecretClient(addr, timeout=0.2) as client:
        with pytest.raises(SecretGateError) as by_default:
            client.list_hosted()
    with SecretClient(addr) as client:
        with pytest.raises(SecretGateError) as by_call:
            client.list_hosted(timeout=0.2)
    assert by_default.value.code == by_call.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_an_unreachable_server_is_unavailable(closed_port):
    with SecretClient(f"127.0.0.1:{closed_port}", timeout=5) as client:
        with pytest.raises(SecretGateError) as raised:
            client.read("anything")
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE


def test_read_sends_the_names_in_order_and_exactly_the_options_it_was_given(recording_server):
    servicer, addr = recording_server
    with SecretClient(addr) as client:
        client.read("b", "a")
        client.read("a", team_id="team-1", bypass_cache=True, virtual_key=True, team_settings={"prefix": "p/"})
    plain, everything = servicer.read_requests
    assert list(plain.names) == ["b", "a"]
    assert (plain.team_id, plain.bypass_cache, plain.virtual_key, plain.HasField("team_settings")) == ("", False, False, False)
    assert (everything.team_id, everything.bypass_cache, everything.virtual_key) == ("team-1", True, True)
    assert dict(everything.team_settings) == {"prefix": "p/"}


def test_read_options_of_the_wrong_type_are_refused_before_anything_is_sent(recording_server):
    servicer, addr = recording_server
    with SecretClient(addr) as client:
        for bad in ({"bypass_cache": "yes"}, {"virtual_key": "yes"}, {"team_id": 7}):
            with pytest.raises(TypeError):
                client.read("a", **bad)
        with pytest.raises(TypeError):
            client.read(7)
    assert servicer.read_requests == []


def test_the_token_is_sent_as_a_bearer_authorization_header(recording_server):
    servicer, addr = recording_server
    with SecretClient(addr, token="t0ken") as client:
        client.read("a")
    with SecretClient(addr) as anonymous:
        anonymous.read("a")
    assert servicer.metadata[0]["authorization"] == "Bearer t0ken"
    assert "authorization" not in servicer.metadata[1]


def test_without_opentelemetry_no_trace_context_is_sent(recording_server):
    servicer, addr = recording_server
    with SecretClient(addr) as client:
        client.read("a")
    assert "traceparent" not in servicer.metadata[0] and "tracestate" not in servicer.metadata[0]


def test_with_opentelemetry_each_call_carries_the_callers_trace_context(recording_server, opentelemetry_stand_in):
    servicer, addr = recording_server
    with SecretClient(addr, token="t0ken") as client:
        client.read("a")
    sent = servicer.metadata[0]
    assert (sent["traceparent"], sent["tracestate"], sent["authorization"]) == (opentelemetry_stand_in, "vendor=opaque", "Bearer t0ken")
    # secretgate reads W3C Trace Context only: other propagators' headers stay with the caller.
    assert "baggage" not in sent


def test_tls_with_custom_roots(tls_recording_server):
    servicer, addr, ca = tls_recording_server
    with SecretClient(addr, token="over-tls", root_certificates=ca) as client:
        assert client.read("a")[0].value == "recorded"
    assert servicer.metadata[0]["authorization"] == "Bearer over-tls"
    with SecretClient(addr, timeout=5) as plaintext:
        with pytest.raises(SecretGateError) as raised:
            plaintext.read("a")
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE


def test_check_health_checks_the_server_the_token_and_the_back_end(client, address):
    report = client.check_health()
    assert report.healthy, str(report)
    assert [report.server.status, report.token.status, report.backends.status] == ["ok", "ok", "ok"]
    assert "local" in report.backends.detail or "not found" in report.backends.detail
    with SecretClient(address, token="not-a-token-the-server-knows") as stranger:
        rejected = stranger.check_health(timeout=5.0)
    assert not rejected.healthy
    assert (rejected.server.status, rejected.token.status, rejected.backends.status) == ("ok", "failed", "not checked")
    assert "UNAUTHENTICATED" in rejected.token.detail and "not-a-token" not in str(rejected)


def test_check_health_of_an_unreachable_server_says_the_server_failed(closed_port):
    with SecretClient(f"127.0.0.1:{closed_port}", timeout=2.0) as client:
        report = client.check_health()
    assert (report.server.status, report.token.status, report.backends.status) == ("failed", "not checked", "not checked")
    assert "UNAVAILABLE" in report.server.detail


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), 3601, True, "3"])
def test_a_deadline_that_is_no_deadline_is_refused_naming_timeout(address, timeout):
    with pytest.raises(ValueError, match="timeout: a number of seconds greater than 0"):
        SecretClient(address, timeout=timeout)
    with SecretClient(address) as client:
        with pytest.raises(ValueError, match="timeout: a number of seconds greater than 0"):
            client.read("anything", timeout=timeout)
