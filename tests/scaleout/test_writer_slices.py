"""What a writer sends of its committed XNet streams (`SlicePusher`), and the cluster
configuration it reads from the environment. Pure: no services."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icframework.replica.messages import CallOrigin, OriginKind, Request
from icframework.replica.xnet import StreamSlice, XNetState
from icframework.scaleout import ClusterConfig, ConfigError, SlicePusher, decode_slice
from icframework.scaleout.config import BROKER_VARIABLE, DATABASE_VARIABLE, REDIS_VARIABLE


def _request(number: int) -> Request:
    return Request(b"\x01", b"\x02", "m", number.to_bytes(4, "big"),
                   CallOrigin(OriginKind.CANISTER, canister_id=b"\x01", callback_id=number))


def _slice(begin: int, count: int, signal: int = 0) -> StreamSlice:
    return StreamSlice("a", "b", begin, tuple(_request(i) for i in range(begin, begin + count)),
                       signal)


class Sent:
    def __init__(self) -> None:
        self.slices: list[StreamSlice] = []

    def __call__(self, destination: str, data: bytes) -> None:
        piece = decode_slice(data)
        assert piece.destination == destination
        self.slices.append(piece)


def test_new_messages_are_sent_once_and_unacknowledged_ones_resent_periodically() -> None:
    sent = Sent()
    pusher = SlicePusher(sent, resend_after_s=1.0)
    assert pusher.push([_slice(0, 2)], now=0.0) == 1
    assert (sent.slices[-1].begin, len(sent.slices[-1].messages)) == (0, 2)
    # Two more committed: only those go out (the first two are still unacknowledged).
    pusher.push([_slice(0, 4)], now=0.1)
    assert (sent.slices[-1].begin, len(sent.slices[-1].messages)) == (2, 2)
    assert pusher.push([_slice(0, 4)], now=0.2) == 0  # nothing new, not yet due
    # A second later the whole unacknowledged part goes again (a lost message is resent).
    pusher.push([_slice(0, 4)], now=1.2)
    assert (sent.slices[-1].begin, len(sent.slices[-1].messages)) == (0, 4)
    assert pusher.resent == 1
    # Acknowledged (the stream kept nothing): nothing more to send, ever.
    assert pusher.push([_slice(4, 0)], now=5.0) == 0


def test_a_moved_signal_or_a_duplicate_from_the_peer_sends_the_signal() -> None:
    sent = Sent()
    pusher = SlicePusher(sent)
    pusher.push([_slice(0, 0, signal=3)], now=0.0)
    assert sent.slices[-1].signal == 3 and not sent.slices[-1].messages
    assert pusher.push([_slice(0, 0, signal=3)], now=0.5) == 0
    pusher.want_signal("b")
    assert pusher.push([_slice(0, 0, signal=3)], now=0.6) == 1


@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 3)), max_size=30))
def test_every_committed_message_reaches_a_destination_that_inducts_what_arrives(
        steps: list[tuple[int, float]]) -> None:
    """However commits and pushes interleave, the slices sent, inducted in order by a
    destination, deliver each message once and in order, without gaps."""
    sent = Sent()
    pusher = SlicePusher(sent, resend_after_s=1.0)
    destination = XNetState("b")
    end, now = 0, 0.0
    for added, elapsed in steps:
        end += added
        now += elapsed
        pusher.push([_slice(0, end)], now)
    pusher.push([_slice(0, end)], now + 10)  # the periodic resend covers anything left
    delivered = []
    for piece in sent.slices:
        delivered += [m.origin.callback_id for m in destination.accept(piece)]  # type: ignore[union-attr]
    assert delivered == list(range(end))


def test_config_from_the_environment_names_what_is_missing() -> None:
    env = {DATABASE_VARIABLE: "postgresql://db/ic", BROKER_VARIABLE: "redis://r:6379/0"}
    config = ClusterConfig.from_env(env)
    assert config.redis_url == "redis://r:6379/0"  # the broker's Redis by default
    assert ClusterConfig.from_env(config.env()) == config
    with pytest.raises(ConfigError, match=DATABASE_VARIABLE):
        ClusterConfig.from_env({BROKER_VARIABLE: "redis://r"})
    with pytest.raises(ConfigError, match=REDIS_VARIABLE):
        ClusterConfig.from_env({**env, BROKER_VARIABLE: "amqp://guest:guest@r:5672//"})
    with pytest.raises(ConfigError, match=BROKER_VARIABLE):
        ClusterConfig.from_env({**env, BROKER_VARIABLE: "sqs://x"})
