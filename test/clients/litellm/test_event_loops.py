"""One adapter, many event loops: LiteLLM's proxy, its workers and its background jobs may each run their own
loop in their own thread, all calling the one secret manager LiteLLM loaded.

Finding (issue 25): two or more threads each running their own loop with 50 `async_read_secret` calls, and the
other loops' calls die with `CancelledError` (not caught by `except Exception`): 3 of 4 threads died on their
first call, because the adapter closed the previous loop's channel while that loop was still using it.
"""

from __future__ import annotations

import asyncio
import logging
import threading

THREADS = 4
READS_PER_LOOP = 50


def loop_errors(caplog):
    """What asyncio logged as errors: a callback that failed on some loop (e.g. "Event loop is closed")."""
    return [record.getMessage() for record in caplog.records if record.name == "asyncio" and record.levelno >= logging.ERROR]


def test_four_threads_each_with_its_own_event_loop_read_50_times_through_one_adapter_and_no_call_is_cancelled(manager, admin, alias, caplog):
    name = f"OPENAI_API_KEY_{alias}"
    admin.write(name, "sk-loops")
    together = threading.Barrier(THREADS)
    outcomes: list = [None] * THREADS

    def worker(index: int) -> None:
        async def reads():
            together.wait(timeout=30)  # every loop is running before any of them calls
            return [await manager.async_read_secret(secret_name=name) for _ in range(READS_PER_LOOP)]

        try:
            outcomes[index] = asyncio.run(reads())
        except BaseException as error:  # CancelledError is a BaseException: catch it to report it
            outcomes[index] = repr(error)

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        threads = [threading.Thread(target=worker, args=(index,)) for index in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert outcomes == [["sk-loops"] * READS_PER_LOOP] * THREADS
    assert loop_errors(caplog) == []


def test_loops_that_come_and_go_leave_nothing_behind_and_the_next_loop_is_served(manager, admin, alias, caplog):
    # One loop closed by asyncio.run, one closed by hand (no shutdown_asyncgens), then a write and a
    # health check from a third: nothing of the closed loops is used or closed later.
    name = f"OPENAI_API_KEY_{alias}"
    admin.write(name, "sk-loops")
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        assert asyncio.run(manager.async_read_secret(secret_name=name)) == "sk-loops"
        by_hand = asyncio.new_event_loop()
        try:
            assert by_hand.run_until_complete(manager.async_read_secret(secret_name=name)) == "sk-loops"
        finally:
            by_hand.close()
        assert asyncio.run(manager.async_health_check()) is True
        assert asyncio.run(manager.async_read_secret(secret_name=name)) == "sk-loops"
    assert loop_errors(caplog) == []


def test_a_task_cancelled_while_it_waits_is_cancelled_and_the_adapter_goes_on(manager, admin, alias):
    name = f"OPENAI_API_KEY_{alias}"
    admin.write(name, "sk-loops")

    async def cancel_one_then_read():
        waiting = asyncio.ensure_future(manager.async_read_secret(secret_name=name))
        waiting.cancel()
        try:
            await waiting
        except asyncio.CancelledError:
            cancelled = True
        else:
            cancelled = False
        return cancelled, await manager.async_read_secret(secret_name=name)

    assert asyncio.run(cancel_one_then_read()) == (True, "sk-loops")
