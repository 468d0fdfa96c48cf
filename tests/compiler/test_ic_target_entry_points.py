"""Every SDK entry point on the IC target, on our replica: heartbeat, inspect_message,
composite queries calling another canister, ``http_request`` (plain, streamed, upgraded to
an update) through the replica's gateway, models on stable memory across an upgrade,
``ic.is_controller``, cycles attached, accepted and refunded, ``performance_counter`` and
certified data with its certificate.

One app, built once per module into the shared cache ``<repo>/.build/ic``; two canisters
of it (the composite query and the cycles call go from one to the other).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from icframework.candid import BLOB, BOOL, NAT, NAT64, PRINCIPAL, TEXT, Opt, Vec
from icframework.candid.binary import decode, encode
from icframework.compiler.ic_limits import module_facts
from icframework.compiler.ic_target import IcBuild
from icframework.core import ErrorCode, Principal
from icframework.protocol.certificate import verify_certificate
from icframework.protocol.hashtree import lookup_value
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.gateway import Gateway, HttpRequest
from tests.compiler.ic_target_support import (
    CONTROLLER,
    USER,
    build_app,
    call,
    install,
    open_replica,
)
from tests.node import requires_node

BANNED = Principal.self_authenticating(b"ic target test banned")

pytestmark = requires_node  # wasm-merge (binaryen) runs on node

APP = '''"""One canister using every SDK entry point, for the IC-target entry-point tests."""

from icframework.sdk import (
    Field, Model, StableCell, heartbeat, ic, init, inspect_message, nat, nat64, query, update,
)
from icframework.sdk.http import (
    ChunkedBody, HttpRequest, HttpResponse, StreamingCallbackHttpResponse, StreamingToken,
    streaming_chunk, streaming_response, text_response, url_path,
)

beats = StableCell[nat]("beats", default=0)
count = StableCell[nat]("count", default=0)
http_updates = StableCell[nat]("http_updates", default=0)
BANNED = ic.Principal.from_text("t4w72-ispzr-kbgma-5c4os-km2mk-3n2qq-hgtx7-2lzxa-25rop-3ghg2-6ae")
STREAMED = bytes(range(7, 57))  # 50 bytes in chunks of 16: one reply and three callbacks


class Note(Model):
    title: str
    tag: str = Field(index=True)


@init
def setup(start: nat) -> None:
    count.set(start)


@heartbeat
def beat() -> None:
    beats.set(beats.get() + 1)


@inspect_message
def inspect() -> bool:
    if ic.method_name() == "forbidden" or b"spam" in ic.arg_data():
        return False
    return ic.caller() != BANNED


@query
def beat_count() -> nat:
    return beats.get()


@update
def shout(text: str) -> str:
    return text.upper()


@update
def forbidden() -> str:
    return "inspect_message let it through"


@query
def get_count() -> nat:
    return count.get()


@query(composite=True)
async def combined(other: ic.Principal) -> nat:
    theirs = await ic.call(other, "get_count", result=nat)
    return theirs + count.get()


@query
def http_request(request: HttpRequest) -> HttpResponse:
    path = url_path(request)
    if path == "/plain":
        return text_response(200, f"plain {count.get()}")
    if path == "/stream":
        body = ChunkedBody("s", len(STREAMED), 16, lambda i: STREAMED[16 * i:16 * i + 16])
        return streaming_response(request, body, "http_stream", content_type="x/bytes")
    if path == "/count":
        return HttpResponse(200, [], b"", upgrade=True)
    return text_response(404, f"nothing at {path}")


@query
def http_stream(token: StreamingToken) -> StreamingCallbackHttpResponse:
    body = ChunkedBody("s", len(STREAMED), 16, lambda i: STREAMED[16 * i:16 * i + 16])
    return streaming_chunk(token, body)


@update
def http_request_update(request: HttpRequest) -> HttpResponse:
    http_updates.set(http_updates.get() + 1)
    return text_response(200, f"update {http_updates.get()} for {url_path(request)}")


@update
def add_note(title: str, tag: str) -> nat64:
    return Note.objects.create(title=title, tag=tag).id


@query
def notes_tagged(tag: str) -> list[str]:
    return [note.title for note in Note.objects.filter(tag=tag).order_by("id")]


@query
def note_count() -> nat:
    return Note.objects.count()


@query
def controls(who: ic.Principal) -> bool:
    return ic.is_controller(who)


@query
def caller_controls() -> bool:
    return ic.is_controller(ic.caller())


@update
def take_half() -> nat:
    return ic.msg_cycles_accept(ic.msg_cycles_available() // 2)


@update
async def pay(other: ic.Principal, amount: nat) -> list[nat]:
    outside = ic.msg_cycles_refunded()  # no callback yet: 0 (ic0 would trap here)
    accepted = await ic.call(other, "take_half", result=nat, cycles=amount)
    return [accepted, ic.msg_cycles_refunded(), outside]


@query
def balance() -> nat:
    return ic.canister_balance()


@update
def work(rounds: nat) -> list[nat64]:
    first = ic.performance_counter(0)
    total = 0
    for i in range(rounds):
        total += i * i
    return [first, ic.performance_counter(0), total % 2]


@update
async def across_await() -> list[nat64]:
    before = ic.performance_counter(1)
    await ic.call(ic.id(), "get_count", result=nat)
    return [before, ic.performance_counter(0), ic.performance_counter(1)]


@update
def certify(data: bytes) -> None:
    ic.set_certified_data(data)


@query
def certificate() -> bytes | None:
    return ic.data_certificate()
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> IcBuild:
    return build_app(tmp_path_factory, APP, "entryapp")


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    yield from open_replica(tmp_path_factory)


@pytest.fixture(scope="module")
def pair(replica: Replica, built: IcBuild) -> tuple[Principal, Principal]:
    """Two canisters of the app, installed with counts 5 and 37."""
    return install(replica, built, encode([NAT], [5])), install(replica, built, encode([NAT], [37]))


class _ReplicaBackend:
    """The gateway's `CanisterBackend` over the embedded replica."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    def query(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        return self.replica.query(canister_id, method, arg)

    def update(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        return self.replica.update(canister_id, method, arg)

    def root_key(self) -> bytes:
        return self.replica.identity.root_key_der

    def now_ns(self) -> int:
        return self.replica.time_ns


def test_heartbeat_runs_every_round(replica: Replica, pair: tuple[Principal, Principal]) -> None:
    first, _ = pair
    before = call(replica, first, "beat_count", [], [], NAT, query=True)
    for _ in range(3):
        replica.subnet.execute_round()
    assert call(replica, first, "beat_count", [], [], NAT, query=True) >= before + 3


def test_inspect_message_accepts_and_refuses_ingress(
    replica: Replica, pair: tuple[Principal, Principal]
) -> None:
    first, _ = pair
    assert call(replica, first, "shout", [TEXT], ["hi"], TEXT, sender=USER) == "HI"
    assert call(replica, first, "shout", [TEXT], ["anyone"], TEXT,
                sender=Principal.anonymous()) == "ANYONE"
    for sender, text in ((USER, "spam please"), (BANNED, "hi")):
        with pytest.raises(CanisterError) as caught:
            replica.submit(first, "shout", encode([TEXT], [text]), sender=sender)
        assert caught.value.error_code == ErrorCode.CANISTER_REJECTED_MESSAGE
        assert "rejected the message" in caught.value.message


def test_inspect_message_sees_the_method_name(
    built: IcBuild, replica: Replica, pair: tuple[Principal, Principal]
) -> None:
    assert ("ic0", "msg_method_name_size") in {i[:2] for i in module_facts(built.wasm).imports}
    first, _ = pair
    with pytest.raises(CanisterError) as caught:
        replica.submit(first, "forbidden", encode([], []), sender=USER)
    assert caught.value.error_code == ErrorCode.CANISTER_REJECTED_MESSAGE


def test_a_composite_query_calls_a_query_of_another_canister(
    replica: Replica, pair: tuple[Principal, Principal]
) -> None:
    first, second = pair
    mine = call(replica, first, "get_count", [], [], NAT, query=True)
    theirs = call(replica, second, "get_count", [], [], NAT, query=True)
    assert call(replica, first, "combined", [PRINCIPAL], [second], NAT,
                query=True) == mine + theirs


def test_http_request_plain_streamed_and_upgraded(
    replica: Replica, pair: tuple[Principal, Principal]
) -> None:
    first, _ = pair
    gateway = Gateway(_ReplicaBackend(replica))
    plain = gateway.handle(first, HttpRequest("GET", "/plain"), verify=False)
    count = call(replica, first, "get_count", [], [], NAT, query=True)
    assert (plain.status, plain.body) == (200, f"plain {count}".encode())
    streamed = gateway.handle(first, HttpRequest("GET", "/stream"), verify=False)
    assert streamed.status == 200 and streamed.body == bytes(range(7, 57))
    missing = gateway.handle(first, HttpRequest("GET", "/nowhere"), verify=False)
    assert (missing.status, missing.body) == (404, b"nothing at /nowhere")
    for n in (1, 2):
        upgraded = gateway.handle(first, HttpRequest("POST", "/count"), verify=False)
        assert (upgraded.status, upgraded.body) == (200, f"update {n} for /count".encode())


def test_models_on_stable_memory_survive_an_upgrade(
    replica: Replica, built: IcBuild, pair: tuple[Principal, Principal]
) -> None:
    first, _ = pair
    ids = [call(replica, first, "add_note", [TEXT, TEXT], [title, tag], NAT64)
           for title, tag in (("a", "x"), ("b", "y"), ("c", "x"))]
    assert ids == sorted(ids) and len(set(ids)) == 3
    replica.install_code(first, built.gzipped, encode([NAT], [5]), mode="upgrade",
                         sender=CONTROLLER)
    assert call(replica, first, "notes_tagged", [TEXT], ["x"], Vec(TEXT), query=True) == ["a", "c"]
    assert call(replica, first, "note_count", [], [], NAT, query=True) == 3
    assert call(replica, first, "add_note", [TEXT, TEXT], ["d", "x"], NAT64) > ids[-1]
    assert call(replica, first, "notes_tagged", [TEXT], ["x"], Vec(TEXT),
                query=True) == ["a", "c", "d"]


def test_is_controller(replica: Replica, pair: tuple[Principal, Principal]) -> None:
    first, _ = pair
    assert call(replica, first, "controls", [PRINCIPAL], [CONTROLLER], BOOL, query=True) is True
    assert call(replica, first, "controls", [PRINCIPAL], [USER], BOOL, query=True) is False
    assert call(replica, first, "caller_controls", [], [], BOOL, query=True,
                sender=CONTROLLER) is True
    assert call(replica, first, "caller_controls", [], [], BOOL, query=True,
                sender=USER) is False


def test_cycles_attached_accepted_and_refunded(
    replica: Replica, pair: tuple[Principal, Principal]
) -> None:
    first, second = pair
    amount = 3_000_000_001
    before = call(replica, second, "balance", [], [], NAT, query=True)
    accepted, refunded, outside = call(replica, first, "pay", [PRINCIPAL, NAT],
                                       [second, amount], Vec(NAT))
    assert accepted == amount // 2
    assert refunded == amount - accepted
    assert outside == 0
    assert call(replica, second, "balance", [], [], NAT, query=True) > before


def test_performance_counter_in_a_message_and_across_an_await(
    replica: Replica, pair: tuple[Principal, Principal]
) -> None:
    first, _ = pair
    start, end, _parity = call(replica, first, "work", [NAT], [2000], Vec(NAT64))
    assert 0 < start < end
    before, in_callback, in_context = call(replica, first, "across_await", [], [], Vec(NAT64))
    assert 0 < before < in_context
    assert in_callback <= in_context


def test_certified_data_and_its_certificate(
    replica: Replica, pair: tuple[Principal, Principal]
) -> None:
    first, _ = pair
    data = bytes(range(32))
    replica.update(first, "certify", encode([BLOB], [data]), sender=CONTROLLER)
    raw = call(replica, first, "certificate", [], [], Opt(BLOB), query=True)
    assert raw is not None
    certificate = verify_certificate(raw, replica.identity.root_key_der, canister_id=first)
    assert lookup_value(["canister", first.raw, "certified_data"], certificate.tree) == data
    # replicated (an update call): no certificate
    assert decode(replica.update(first, "certificate", encode([], [])), [Opt(BLOB)])[0] is None
