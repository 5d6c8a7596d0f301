"""What secretgate_client adds to a cached Read, against bare grpcio stub calls on the same channel.

Each comparison alternates, in rounds, a run of bare calls (the generated stub on the helper's own channel,
sending the same token and deadline) with a run of the helper's calls, and prints each side's median and p99
as one JSON object. bench/client-overhead.ts runs it against a live server:

    SECRETGATE_BENCH_ADDR=… SECRETGATE_BENCH_TOKEN=… SECRETGATE_BENCH_NAME=… python3 python_helpers.py <rounds> <calls>

The bare side reaches into the helpers' channels (``_channel``) and the timing of the helpers' own code wraps
their Read call (``_calls``): a benchmark's licence, not an interface.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from typing import Callable, Dict, List

import grpc
from google.protobuf import __version__ as protobuf_version
from google.protobuf import wrappers_pb2
from google.protobuf.internal import api_implementation

from secretgate.v1 import secret_service_pb2 as pb
from secretgate.v1 import secret_service_pb2_grpc as pb_grpc
from secretgate_client import AsyncSecretClient, SecretClient
from secretgate_client.litellm import SecretGateSecretManager

ADDRESS = os.environ["SECRETGATE_BENCH_ADDR"]
TOKEN = os.environ["SECRETGATE_BENCH_TOKEN"]
NAME = os.environ["SECRETGATE_BENCH_NAME"]
METADATA = (("authorization", f"Bearer {TOKEN}"),)
now = time.perf_counter_ns


def summary(samples: List[int]) -> Dict[str, float]:
    ordered = sorted(samples)
    at = lambda q: ordered[int(q * (len(ordered) - 1))] / 1e3  # noqa: E731
    return {"median_us": at(0.5), "p99_us": at(0.99), "samples": len(ordered)}


def cached(result) -> None:
    if not (result.found and result.from_cache):
        raise SystemExit("the benchmark's name was not a cache hit")


def alternate(name: str, bare: Callable, helper: Callable, rounds: int, calls: int) -> dict:
    """Rounds of `calls` bare calls and `calls` helper calls, the first round a warm-up, the order flipped each round."""
    times: Dict[str, List[int]] = {"bare": [], "helper": []}
    for round_number in range(rounds + 1):
        sides = [("bare", bare), ("helper", helper)]
        for side, call in sides if round_number % 2 == 0 else reversed(sides):
            for _ in range(calls):
                started = now()
                call()
                if round_number:
                    times[side].append(now() - started)
    return {"name": name, "bare": summary(times["bare"]), "helper": summary(times["helper"])}


async def alternate_async(name: str, bare: Callable, helper: Callable, rounds: int, calls: int) -> dict:
    times: Dict[str, List[int]] = {"bare": [], "helper": []}
    for round_number in range(rounds + 1):
        sides = [("bare", bare), ("helper", helper)]
        for side, call in sides if round_number % 2 == 0 else reversed(sides):
            for _ in range(calls):
                started = now()
                await call()
                if round_number:
                    times[side].append(now() - started)
    return {"name": name, "bare": summary(times["bare"]), "helper": summary(times["helper"])}


def own_time(client, call: Callable, calls: int) -> float:
    """The helper's own time per call (median, µs): a call's time less the time inside grpcio's Read."""
    real = client._calls["Read"]
    inner = [0]

    def timed(*args, **kwargs):
        started = now()
        try:
            return real(*args, **kwargs)
        finally:
            inner[0] = now() - started

    client._calls["Read"] = timed
    own = []
    for _ in range(calls):
        started = now()
        call()
        own.append(now() - started - inner[0])
    client._calls["Read"] = real
    return summary(own)["median_us"]


async def own_time_async(client, call: Callable, calls: int) -> float:
    real = client._calls["Read"]
    inner = [0]

    async def awaited(*args, **kwargs):
        started = now()
        try:
            return await real(*args, **kwargs)
        finally:
            inner[0] = now() - started

    client._calls["Read"] = lambda *args, **kwargs: awaited(*args, **kwargs)
    own = []
    for _ in range(calls):
        started = now()
        await call()
        own.append(now() - started - inner[0])
    client._calls["Read"] = real
    return summary(own)["median_us"]


def blocking_comparisons(rounds: int, calls: int) -> List[dict]:
    found = []
    with SecretClient(ADDRESS, token=TOKEN) as client:
        stub = pb_grpc.SecretServiceStub(client._channel)
        bare = lambda: stub.Read(pb.ReadRequest(names=[NAME]), timeout=10.0, metadata=METADATA).results[0]  # noqa: E731
        helper = lambda: client.read(NAME)[0]  # noqa: E731
        bare()
        cached(bare())
        cached(helper())
        found.append({**alternate("python-sync", bare, helper, rounds, calls), "own_us": own_time(client, helper, rounds * calls)})

    manager = SecretGateSecretManager(ADDRESS, token=TOKEN)
    stub = pb_grpc.SecretServiceStub(manager._client._channel)
    # The adapter's deadline is 3 s (SECRETGATE_TIMEOUT's default); the bare calls are given the same.
    bare = lambda: stub.Read(pb.ReadRequest(names=[NAME]), timeout=3.0, metadata=METADATA).results[0].value  # noqa: E731
    helper = lambda: manager.sync_read_secret(NAME)  # noqa: E731
    if helper() is None:
        raise SystemExit("the benchmark's name did not resolve through the adapter")
    found.append({**alternate("litellm-sync", bare, helper, rounds, calls), "own_us": own_time(manager._client, helper, rounds * calls)})
    manager._client.close()
    return found


async def asyncio_comparisons(rounds: int, calls: int) -> List[dict]:
    found = []
    async with AsyncSecretClient(ADDRESS, token=TOKEN) as client:
        stub = pb_grpc.SecretServiceStub(client._channel)

        async def bare():
            return (await stub.Read(pb.ReadRequest(names=[NAME]), timeout=10.0, metadata=METADATA)).results[0]

        async def helper():
            return (await client.read(NAME))[0]

        await bare()
        cached(await bare())
        cached(await helper())
        result = await alternate_async("python-asyncio", bare, helper, rounds, calls)
        found.append({**result, "own_us": await own_time_async(client, helper, rounds * calls)})

    # The adapter's async read starts its call on the adapter's blocking channel and awaits it from this loop;
    # the bare side is the blocking call on that channel, the cheapest way to the same answer from here.
    manager = SecretGateSecretManager(ADDRESS, token=TOKEN)
    stub = pb_grpc.SecretServiceStub(manager._client._channel)

    async def blocking_bare():
        return stub.Read(pb.ReadRequest(names=[NAME]), timeout=3.0, metadata=METADATA).results[0].value

    async def adapter_read():
        return await manager.async_read_secret(NAME)

    found.append(await alternate_async("litellm-async", blocking_bare, adapter_read, rounds, calls))
    # Against a grpc.aio call on a channel of its own: what an asyncio caller of grpcio pays (the adapter keeps
    # no per-loop channels: docs/clients.md says why).
    async with grpc.aio.insecure_channel(ADDRESS) as channel:
        aio_stub = pb_grpc.SecretServiceStub(channel)

        async def aio_bare():
            return (await aio_stub.Read(pb.ReadRequest(names=[NAME]), timeout=3.0, metadata=METADATA)).results[0].value

        found.append(await alternate_async("litellm-async-vs-aio", aio_bare, adapter_read, rounds, calls))
    # The control: grpcio polls a blocking channel's futures on a thread it starts when the first of them
    # begins and ends when the last one ends, so one call at a time starts a thread per call. A stream held
    # open on the channel meanwhile (a Health/Watch) keeps that thread, and shows what starting it costs.
    watch = manager._client._channel.unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=lambda service: wrappers_pb2.StringValue(value=service).SerializeToString(),
        response_deserializer=lambda data: wrappers_pb2.Int32Value.FromString(data).value,
    )("secretgate.v1.SecretService")
    next(watch)
    result = await alternate_async("litellm-async-thread-kept", blocking_bare, adapter_read, rounds, calls)
    watch.cancel()
    found.append(result)
    manager._client.close()
    return found


def main() -> None:
    rounds, calls = (int(argument) for argument in sys.argv[1:3])
    comparisons = blocking_comparisons(rounds, calls) + asyncio.run(asyncio_comparisons(rounds, calls))
    runtime = (
        f"Python {platform.python_version()}, grpcio {grpc.__version__}, "
        f"protobuf {protobuf_version} ({api_implementation.Type()})"
    )
    print(json.dumps({"runtime": runtime, "comparisons": comparisons}))


if __name__ == "__main__":
    main()
