"""What a health check asks and how it reads the answers, shared by the sync client, the asyncio client
and the LiteLLM adapter (each runs the same steps with its own way of calling).

A check asks three things in order, each only when the one before it passed:

1. the server: grpc.health.v1 Check of SecretService answers SERVING (no token needed);
2. the token: AdminService's WhoAmI, which answers any valid token and refuses every other one (UNAUTHENTICATED);
3. the back ends: a Read of the reserved name ``secretgate-readiness-probe`` past the cache, which the server
   always asks the back end for (whatever ``hosted_keys`` says) and which normally does not exist. A
   definite answer — found, or "not in the back end" — means the back end a read reaches answered; an
   availability failure (UNAVAILABLE, DEADLINE_EXCEEDED, …) means it did not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Generator, Optional, Tuple

import grpc

from secretgate.v1 import admin_service_pb2 as admin_pb
from secretgate.v1 import secret_service_pb2 as pb

from . import _channel
from .errors import SecretGateError

PROBE_NAME = "secretgate-readiness-probe"
OK, FAILED, NOT_CHECKED = "ok", "failed", "not checked"

# The method names the steps use, as the clients' _invoke methods know them.
HEALTH, WHO_AM_I, READ = "Health/Check", "WhoAmI", "Read"
_NOT_HOSTED = "NOT_HOSTED"


@dataclass(frozen=True)
class HealthCheck:
    """One part of a health check: ``status`` is ``"ok"``, ``"failed"`` or ``"not checked"``, ``detail`` says why."""

    status: str
    detail: str


@dataclass(frozen=True)
class HealthReport:
    """The server, the token and the back ends, each checked (or not) with why. ``healthy`` is true when
    none of them failed; ``str(report)`` says all three, e.g. ``server: ok (SERVING); token: failed (…); …``."""

    server: HealthCheck
    token: HealthCheck
    backends: HealthCheck

    @property
    def healthy(self) -> bool:
        return FAILED not in (self.server.status, self.token.status, self.backends.status)

    def __str__(self) -> str:
        parts = (("server", self.server), ("token", self.token), ("back ends", self.backends))
        return "; ".join(f"{name}: {check.status} ({check.detail})" for name, check in parts)


def calls(channel, stub) -> Dict[str, Any]:
    """Every call a client makes on ``channel`` by the method name its ``_call`` takes: each RPC of the generated
    ``stub`` (which holds one multicallable per RPC), HEALTH and WHO_AM_I. Built with the client, so that finding
    a call is one dictionary look-up."""
    return {**vars(stub), HEALTH: _channel.health_check(channel), WHO_AM_I: _channel.who_am_i(channel)}


# One step: the method and its request; the answer sent back is (response, None) or (None, error).
Step = Tuple[str, Any]
Answer = Tuple[Any, Optional[SecretGateError]]


def steps() -> Generator[Step, Answer, HealthReport]:
    """The check as a generator: yields each call to make, receives its answer, returns the report."""
    status, error = yield HEALTH, _channel.HEALTH_SERVICE
    if error is not None:
        server = HealthCheck(FAILED, f"did not answer its health check: {error.code.name}: {error.details}")
    elif _channel.serving_status(status) != "SERVING":
        server = HealthCheck(FAILED, f"its health check answered {_channel.serving_status(status)}")
    else:
        server = HealthCheck(OK, "SERVING")
    if server.status != OK:
        return HealthReport(server, HealthCheck(NOT_CHECKED, "the server did not answer"), HealthCheck(NOT_CHECKED, "the server did not answer"))

    caller, error = yield WHO_AM_I, admin_pb.WhoAmIRequest()
    if error is not None:
        verdict = "rejected" if error.code == grpc.StatusCode.UNAUTHENTICATED else "could not be checked"
        token = HealthCheck(FAILED, f"{verdict}: {error.code.name}: {error.details}")
        return HealthReport(server, token, HealthCheck(NOT_CHECKED, "the token was not accepted"))
    token = HealthCheck(OK, f"accepted as {caller.caller.name!r}")

    response, error = yield READ, pb.ReadRequest(names=[PROBE_NAME], bypass_cache=True)
    return HealthReport(server, token, _backends(response, error))


def _backends(response: Optional[pb.ReadResponse], error: Optional[SecretGateError]) -> HealthCheck:
    if error is not None:
        return HealthCheck(FAILED, f"{error.code.name}: {error.details}")
    result = response.results[0]
    if result.found:
        return HealthCheck(OK, f"{result.source} answered")
    status, reason, message = result.error.status, result.error.reason, result.error.message
    if status == "NOT_FOUND" and reason == _NOT_HOSTED:
        # access_mode write_only: this server serves no reads, so no back end is asked for one.
        return HealthCheck(NOT_CHECKED, f"reads are not served here: {message}")
    if status == "NOT_FOUND":
        return HealthCheck(OK, f"answered: {message}")
    if status == "PERMISSION_DENIED":
        # The identity's rules or the back end's own permissions: the probe cannot tell which back end state.
        return HealthCheck(NOT_CHECKED, f"the probe read was refused: {message}")
    return HealthCheck(FAILED, f"{status}: {message}")


def run_blocking(invoke: Callable[[str, Any, float], Any], timeout: float) -> HealthReport:
    """Runs the steps with a blocking ``invoke(method, request, seconds)``, all within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    check = steps()
    step = next(check)
    while True:
        try:
            answer: Answer = (invoke(*step, _left(deadline)), None)
        except SecretGateError as error:
            answer = (None, error)
        try:
            step = check.send(answer)
        except StopIteration as done:
            return done.value


async def run_awaiting(invoke: Callable[[str, Any, float], Awaitable[Any]], timeout: float) -> HealthReport:
    """Runs the steps with an awaitable ``invoke(method, request, seconds)``, all within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    check = steps()
    step = next(check)
    while True:
        try:
            answer: Answer = (await invoke(*step, _left(deadline)), None)
        except SecretGateError as error:
            answer = (None, error)
        try:
            step = check.send(answer)
        except StopIteration as done:
            return done.value


def _left(deadline: float) -> float:
    # A step that starts after the deadline still goes out, with a deadline that has all but passed.
    return max(deadline - time.monotonic(), 0.001)
