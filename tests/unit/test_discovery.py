"""Finding a provider's dialect (engine/provider/discovery.py), pure asyncio."""

import asyncio

from engine.config import ProviderConfig
from engine.provider.discovery import Dialects, LocalDialectBook

AUTO = ProviderConfig(name="local", base_url="http://x/v1", api_key="none")


async def test_one_call_tries_while_the_others_wait_for_its_answer():
    dialects = Dialects()
    first = await dialects.ticket(AUTO)
    assert (first.dialect, first.probe) == ("json_schema", True)
    waiting = [asyncio.create_task(dialects.ticket(AUTO)) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in waiting)
    assert dialects.refused(AUTO, first)  # the next dialect is tried by one of them
    await asyncio.sleep(0.01)
    tickets = [task.result() for task in waiting if task.done()]
    assert [(t.dialect, t.probe) for t in tickets] == [("llama_cpp", True)]
    await dialects.accepted(AUTO, tickets[0])
    dialects.release(AUTO, tickets[0])
    rest = await asyncio.gather(*waiting)
    assert {(t.dialect, t.probe) for t in rest[1:]} | {(tickets[0].dialect, False)} == {("llama_cpp", False)}
    assert dialects.known(AUTO) == "llama_cpp"


async def test_a_try_that_settles_nothing_stops_the_waiting():
    dialects = Dialects()
    first = await dialects.ticket(AUTO)
    waiting = asyncio.create_task(dialects.ticket(AUTO))
    dialects.release(AUTO, first)  # a timeout, say: nothing learned
    second = await waiting
    assert (second.dialect, second.probe) == ("json_schema", False)  # a hung server must not serialise a batch
    tickets = [second, *await asyncio.gather(*(dialects.ticket(AUTO) for _ in range(2)))]
    assert all(not t.probe and t.dialect == "json_schema" for t in tickets)  # sent together now
    assert dialects.refused(AUTO, tickets[0]) and dialects.refused(AUTO, tickets[1])
    assert (await dialects.ticket(AUTO)).dialect == "llama_cpp"  # moved on once, not twice
    assert dialects.known(AUTO) is None


async def test_the_end_of_the_list_and_a_configured_dialect_are_not_moved_from():
    dialects = Dialects()
    ticket = await dialects.ticket(AUTO)
    for _ in range(3):
        assert dialects.refused(AUTO, ticket)
        ticket = await dialects.ticket(AUTO)
    assert ticket.dialect == "prompt" and not dialects.refused(AUTO, ticket)
    pinned = ProviderConfig(name="vllm", base_url="http://y/v1", api_key="none", dialect="vllm")
    ticket = await dialects.ticket(pinned)
    assert (ticket.dialect, ticket.probe, dialects.known(pinned)) == ("vllm", False, "vllm")
    assert not dialects.refused(pinned, ticket)


async def test_a_shared_book_is_read_before_trying_and_written_when_found():
    book = LocalDialectBook()
    await book.remember("json_object")
    ticket = await Dialects(lambda provider: book).ticket(AUTO)
    assert (ticket.dialect, ticket.probe) == ("json_object", False)
    other = LocalDialectBook()
    dialects = Dialects(lambda provider: other)
    ticket = await dialects.ticket(AUTO)
    await dialects.accepted(AUTO, ticket)
    assert await other.recall() == "json_schema"


async def test_a_broken_book_only_costs_the_sharing():
    class Broken:
        async def recall(self):
            raise RuntimeError("actor gone")

        async def remember(self, dialect):
            raise RuntimeError("actor gone")

    dialects = Dialects(lambda provider: Broken())
    ticket = await dialects.ticket(AUTO)
    assert ticket.probe
    await dialects.accepted(AUTO, ticket)
    assert dialects.known(AUTO) == "json_schema"
