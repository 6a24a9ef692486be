"""Several broker addresses: parsing, and the order a reconnection tries them in."""

from __future__ import annotations

import asyncio

import pytest

from shared_lib.messaging import broker as broker_module
from shared_lib.messaging.addresses import broker_urls, redact, rotation
from shared_lib.messaging.broker import Broker, BrokerUnavailable
from shared_lib.messaging.topology import Topology

A = "amqp://u:p@rabbit-1:5672/v"
B = "amqp://u:p@rabbit-2:5672/v"
C = "amqp://u:p@rabbit-3:5673/v"


def test_one_url_is_a_list_of_one() -> None:
    assert broker_urls("amqp://guest:guest@127.0.0.1:5672/") == [
        "amqp://guest:guest@127.0.0.1:5672/"]


def test_comma_separated_urls_in_order_with_spaces_and_empty_parts_ignored() -> None:
    assert broker_urls(f" {A}, {B} ,,{C},") == [A, B, C]
    assert broker_urls([A, " ", B]) == [A, B]


def test_one_url_with_several_hosts_is_one_address_a_host() -> None:
    assert broker_urls("amqp://u:p@rabbit-1:5672,rabbit-2:5672, rabbit-3:5673/v") == [
        A, B, C]
    assert broker_urls("amqp://rabbit-1,rabbit-2/?heartbeat=5") == [
        "amqp://rabbit-1/?heartbeat=5", "amqp://rabbit-2/?heartbeat=5"]
    # mixed with whole URLs, and a trailing comma
    assert broker_urls(f"amqp://u:p@rabbit-1:5672,rabbit-2:5672/v,{C},") == [A, B, C]


@pytest.mark.parametrize("value", ["", " , ", "rabbit-1:5672", f"{A},http://x/",
                                   "http://a,b/"])
def test_refuses_no_address_or_something_else(value: str) -> None:
    with pytest.raises(ValueError):
        broker_urls(value)


def test_rotation_starts_at_the_first_then_after_the_lost_one() -> None:
    assert rotation(3, None) == [0, 1, 2]
    assert rotation(3, 0) == [1, 2, 0]
    assert rotation(3, 1) == [2, 0, 1]
    assert rotation(3, 2) == [0, 1, 2]
    assert rotation(1, None) == [0]
    assert rotation(1, 0) == [0]


def test_redact_keeps_no_credentials() -> None:
    assert redact("amqp://user:secret@rabbit-1:5672/%2F") == "amqp://rabbit-1:5672/%2F"
    assert redact("amqps://user:secret@rabbit-1/") == "amqps://rabbit-1:5671/"
    assert "secret" not in redact(C)


class _FakeConnection:
    """Just enough of an aio-pika connection for :meth:`Broker._open`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_closed = False
        self.close_callbacks: set[object] = set()

    async def channel(self, **_: object) -> _FakeChannel:
        return _FakeChannel()

    async def close(self) -> None:
        self.is_closed = True


class _FakeChannel:
    async def close(self) -> None:
        pass


@pytest.fixture
def fake_nodes(monkeypatch: pytest.MonkeyPatch) -> tuple[set[str], list[str]]:
    """``down``: addresses refusing connections; ``tried``: every address asked, in order."""
    down: set[str] = set()
    tried: list[str] = []

    async def connect(url: str, **_: object) -> _FakeConnection:
        tried.append(url)
        if url in down:
            raise ConnectionRefusedError(f"{url} down")
        return _FakeConnection(url)

    async def declare(*_: object) -> None:
        pass

    monkeypatch.setattr(broker_module.aio_pika, "connect", connect)
    monkeypatch.setattr(broker_module, "declare_topology", declare)
    return down, tried


def _broker(url: str) -> Broker:
    return Broker(url, "core", Topology(exchanges=()), delivery_limit=5)


async def test_connects_to_the_first_live_address_in_order(fake_nodes) -> None:  # type: ignore[no-untyped-def]
    down, tried = fake_nodes
    down.add(A)
    b = _broker(f"{A},{B},{C}")
    await b._open()
    assert tried == [A, B]
    assert b.connection.url == B  # type: ignore[attr-defined]
    assert b.address == "amqp://rabbit-2:5672/v"


async def test_after_a_loss_tries_the_next_node_first_and_goes_round(fake_nodes) -> None:  # type: ignore[no-untyped-def]
    down, tried = fake_nodes
    b = _broker(f"{A},{B},{C}")
    await b._open()
    assert b.connection.url == A  # type: ignore[attr-defined]
    tried.clear()
    down.update({A, B})  # the node in use and the next one go
    await b._open()
    assert tried == [B, C]
    assert b.connection.url == C  # type: ignore[attr-defined]
    tried.clear()
    down.clear()
    await b._open()  # from the one after C: round to A
    assert tried == [A]


async def test_all_down_raises_the_last_failure_and_retries_from_the_same_place(
        fake_nodes) -> None:  # type: ignore[no-untyped-def]
    down, tried = fake_nodes
    b = _broker(f"{A},{B},{C}")
    await b._open()
    tried.clear()
    down.update({A, B, C})
    with pytest.raises(ConnectionRefusedError, match="rabbit-1"):
        await b._open()
    assert tried == [B, C, A]
    assert b.address == "amqp://rabbit-1:5672/v"  # still the last node connected to


async def test_a_hanging_node_is_given_up_after_the_attempt_timeout(
        fake_nodes, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _down, tried = fake_nodes
    hang = asyncio.Event()

    async def connect(url: str, **_: object) -> _FakeConnection:
        tried.append(url)
        if url == A:
            await hang.wait()  # accepts but never answers
        return _FakeConnection(url)

    monkeypatch.setattr(broker_module.aio_pika, "connect", connect)
    b = Broker(f"{A},{B}", "core", Topology(exchanges=()), delivery_limit=5,
               attempt_timeout_seconds=0.05)
    await b._open()
    assert tried == [A, B]
    assert b.connection.url == B  # type: ignore[attr-defined]


async def test_a_single_url_that_hangs_is_given_up_too(
        fake_nodes, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    async def connect(url: str, **_: object) -> _FakeConnection:
        await asyncio.Event().wait()  # accepts TCP but never answers
        raise AssertionError

    monkeypatch.setattr(broker_module.aio_pika, "connect", connect)
    b = Broker(A, "core", Topology(exchanges=()), delivery_limit=5,
               attempt_timeout_seconds=0.05)
    with pytest.raises(BrokerUnavailable, match="no answer"):
        await b._open()


async def test_a_heartbeat_is_asked_for_unless_the_url_sets_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[dict[str, object]] = []

    async def connect(url: str, **kwargs: object) -> _FakeConnection:
        asked.append(kwargs)
        return _FakeConnection(url)

    async def declare(*_: object) -> None:
        pass

    monkeypatch.setattr(broker_module.aio_pika, "connect", connect)
    monkeypatch.setattr(broker_module, "declare_topology", declare)
    await Broker(A, "core", Topology(exchanges=()), delivery_limit=5,
                 heartbeat_seconds=3)._open()
    await Broker(f"{A}?heartbeat=7", "core", Topology(exchanges=()), delivery_limit=5)._open()
    assert asked[0]["heartbeat"] == 3
    assert "heartbeat" not in asked[1]


async def test_a_single_url_behaves_as_before(fake_nodes) -> None:  # type: ignore[no-untyped-def]
    down, tried = fake_nodes
    b = _broker(A)
    await b._open()
    down.add(A)
    with pytest.raises(ConnectionRefusedError):
        await b._open()
    assert tried == [A, A]
