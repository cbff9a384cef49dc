"""Sessions are per context: scopes restore, threads and asyncio tasks never see each other's session."""

from __future__ import annotations

import asyncio
import threading

from conftest import make_tracer
from honeyhive_serverless_dev.receiver import DevReceiver


def test_with_session_restores_the_outer_session(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    outer = tracer.create_session(session_name="outer")
    with tracer.with_session("inner") as inner:
        assert tracer.session_id == inner
        with tracer.otel_tracer.start_as_current_span("in-inner"):
            pass
    assert tracer.session_id == outer
    with tracer.otel_tracer.start_as_current_span("in-outer"):
        pass
    by_name = {s.name: s.attributes["honeyhive.session_id"] for s in receiver.spans}
    assert by_name == {"in-inner": inner, "in-outer": outer}


def test_a_scope_undoes_create_session_calls_made_inside_it(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)
    own = tracer.startup_session_id
    assert own is not None and tracer.session_id == own
    with tracer.session_scope():
        tracer.create_session(session_name="leaky")
        tracer.create_session(session_name="leakier")
        assert tracer.session_id not in (None, own)
    assert tracer.session_id == own


def test_async_with_session_restores_the_outer_session(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver)

    async def main() -> tuple[str | None, str | None, str | None]:
        outer = await tracer.acreate_session(session_name="outer")
        async with tracer.with_session("inner") as inner:
            seen = tracer.session_id
            assert seen == inner
        return outer, inner, tracer.session_id

    outer, inner, after = asyncio.run(main())
    assert after == outer != inner


def test_fifty_threads_each_with_its_own_session(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="invocation")
    barrier = threading.Barrier(50)
    owned: dict[str, str] = {}
    lock = threading.Lock()

    def worker(n: int) -> None:
        with tracer.with_session(f"thread-{n}") as session_id:
            assert session_id is not None
            barrier.wait()  # every thread holds its session at the same time
            for step in range(3):
                with tracer.otel_tracer.start_as_current_span(f"t{n}-{step}"):
                    pass
            with lock:
                owned[f"t{n}"] = session_id

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(receiver.spans) == 150
    assert len(set(owned.values())) == 50
    crossed = [s.name for s in receiver.spans if s.attributes["honeyhive.session_id"] != owned[s.name.split("-")[0]]]
    assert crossed == []


def test_fifty_asyncio_tasks_each_with_their_own_session(receiver: DevReceiver) -> None:
    tracer = make_tracer(receiver, export_mode="invocation")
    owned: dict[str, str] = {}

    async def task(n: int, gate: asyncio.Event) -> None:
        async with tracer.with_session(f"task-{n}", skip_api_call=True) as session_id:
            assert session_id is not None
            owned[f"a{n}"] = session_id
            await gate.wait()  # all tasks interleave while holding their sessions
            for step in range(3):
                with tracer.otel_tracer.start_as_current_span(f"a{n}-{step}"):
                    await asyncio.sleep(0)

    async def main() -> None:
        gate = asyncio.Event()
        tasks = [asyncio.create_task(task(n, gate)) for n in range(50)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert len(receiver.spans) == 150
    assert len(set(owned.values())) == 50
    crossed = [s.name for s in receiver.spans if s.attributes["honeyhive.session_id"] != owned[s.name.split("-")[0]]]
    assert crossed == []
