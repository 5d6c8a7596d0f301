"""The SECRETGATE_* variables are checked when LiteLLM builds the adapter (its loader instantiates the class
without arguments): a bad value stops the proxy's start with one ValueError naming the variable and the form
it accepts, instead of failing every call later or crashing somewhere that names nothing.

Finding (issue 25): `SECRETGATE_TIMEOUT=0` failed every call at once with DEADLINE_EXCEEDED (LiteLLM then
quietly fell back to its environment); `''` or `abc` crashed LiteLLM's loader with "could not convert string
to float", naming nothing.
"""

from __future__ import annotations

import pytest

from litellm_shapes import SecretGate

BAD_TIMEOUTS = ["0", "", "abc", "-1", "nan", "inf", "0x10", "1e9"]


@pytest.fixture
def environment(monkeypatch, address):
    """A valid adapter environment, each test spoiling one variable of it."""
    for variable in ("SECRETGATE_TOKEN", "SECRETGATE_TLS", "SECRETGATE_CA_FILE", "SECRETGATE_TIMEOUT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SECRETGATE_ADDR", address)
    return monkeypatch


@pytest.mark.parametrize("value", BAD_TIMEOUTS)
def test_a_bad_secretgate_timeout_is_refused_when_the_adapter_is_built_naming_the_variable_and_the_accepted_form(environment, value):
    environment.setenv("SECRETGATE_TIMEOUT", value)
    with pytest.raises(ValueError) as refused:
        SecretGate()
    message = str(refused.value)
    assert "SECRETGATE_TIMEOUT" in message
    assert "a number of seconds greater than 0" in message


@pytest.mark.parametrize("value", ["0.5", "3", " 7 ", "120"])
def test_a_good_secretgate_timeout_is_the_deadline(environment, value):
    environment.setenv("SECRETGATE_TIMEOUT", value)
    assert SecretGate()._connection["timeout"] == float(value)


def test_a_timeout_passed_to_the_constructor_is_checked_too(environment):
    with pytest.raises(ValueError, match="timeout: a number of seconds greater than 0"):
        SecretGate(timeout=0)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SECRETGATE_ADDR", "", "SECRETGATE_ADDR"),
        ("SECRETGATE_ADDR", "https://secretgate.internal:50051", "host:port"),
        ("SECRETGATE_ADDR", "secretgate.internal", "host:port"),
        ("SECRETGATE_ADDR", "secretgate.internal:0", "host:port"),
        ("SECRETGATE_ADDR", "secretgate.internal:http", "host:port"),
        ("SECRETGATE_TLS", "ture", "true or false"),
        ("SECRETGATE_CA_FILE", "/nonexistent/ca.pem", "PEM"),
    ],
)
def test_every_other_secretgate_variable_is_checked_when_the_adapter_is_built(environment, variable, value, named):
    environment.setenv(variable, value)
    with pytest.raises(ValueError) as refused:
        SecretGate()
    assert variable in str(refused.value) and named in str(refused.value)


def test_a_ca_file_that_holds_no_certificate_is_refused_naming_the_variable(environment, tmp_path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    environment.setenv("SECRETGATE_CA_FILE", str(not_pem))
    with pytest.raises(ValueError, match="SECRETGATE_CA_FILE: .*no PEM certificate"):
        SecretGate()


def test_a_token_that_cannot_be_sent_as_a_header_is_refused_without_showing_it(environment):
    token = "sk-live-0123456789\n"  # e.g. read from a file with its trailing newline
    environment.setenv("SECRETGATE_TOKEN", token)
    with pytest.raises(ValueError) as refused:
        SecretGate()
    assert "SECRETGATE_TOKEN" in str(refused.value)
    assert "sk-live" not in str(refused.value)


def test_several_bad_variables_are_one_error_naming_each(environment):
    environment.setenv("SECRETGATE_TIMEOUT", "abc")
    environment.setenv("SECRETGATE_TLS", "maybe")
    with pytest.raises(ValueError) as refused:
        SecretGate()
    assert "SECRETGATE_TIMEOUT" in str(refused.value) and "SECRETGATE_TLS" in str(refused.value)


@pytest.mark.parametrize("value", ["", "false", "0", "no", "off", "FALSE"])
def test_tls_off_spellings_connect_in_plaintext(environment, value):
    environment.setenv("SECRETGATE_TLS", value)
    assert SecretGate()._connection["tls"] is False


@pytest.mark.parametrize("value", ["true", "1", "yes", "on", "True"])
def test_tls_on_spellings_ask_for_tls(environment, value):
    environment.setenv("SECRETGATE_TLS", value)
    assert SecretGate()._connection["tls"] is True
