"""Calls of the blocking client, awaited from whichever event loop asks.

A grpc.aio channel belongs to the loop it was made in, and grpcio's poller keeps every loop it ever served
(grpcio 1.51: closed loops' callbacks then fail with "Event loop is closed"). A process that runs several
loops in threads — LiteLLM's proxy and its background jobs may — would need a channel per loop and a way to
close each with its loop. Instead, the LiteLLM adapter starts each call on the one thread-safe sync channel
(``grpc.Future``) and the asking loop awaits its completion: no state per loop, nothing to close when a loop
goes away, and a cancelled task cancels its call.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from .errors import from_rpc_error


async def awaited(call: grpc.Future, method: str) -> Any:
    """The call's response; its failure as SecretGateError; cancelling the awaiting task cancels the call."""
    loop = asyncio.get_running_loop()
    outcome = loop.create_future()

    def settle(finished: grpc.Future) -> None:
        # Runs on the loop's thread (call_soon_threadsafe below); the task may have been cancelled meanwhile.
        if outcome.done():
            return
        try:
            outcome.set_result(finished.result())
        except grpc.RpcError as error:
            outcome.set_exception(from_rpc_error(method, error))
        except grpc.FutureCancelledError:
            outcome.cancel()

    def on_done(finished: grpc.Future) -> None:
        # Called on one of grpc's threads (or at once, on this one, if the call already ended).
        try:
            loop.call_soon_threadsafe(settle, finished)
        except RuntimeError:
            pass  # the loop was closed: no one is waiting any more

    call.add_done_callback(on_done)
    try:
        return await outcome
    except asyncio.CancelledError:
        call.cancel()
        raise
