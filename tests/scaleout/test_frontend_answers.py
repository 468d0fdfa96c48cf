"""A front end's answers subscriber on a real Redis: answers published by a writer resolve
the calls waiting for them (on an event loop or in a thread), by request id."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import pytest
import redis

from icframework.scaleout import Answers, answers_channel
from icframework.scaleout.answers import Answer

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services


def publish(client: redis.Redis, subnet: str, request_id: bytes, body: bytes,
            status: int = 200, outcome: str = "replied") -> None:
    client.publish(answers_channel(subnet), json.dumps({
        "request_id": request_id.hex(), "height": 7, "outcome": outcome, "status": status,
        "body_b64": base64.b64encode(body).decode()}))


def test_answers_resolve_waiting_calls_by_request_id(redis_url: str) -> None:
    answers = Answers(redis_url).start()
    client = redis.Redis.from_url(redis_url)
    subnet = f"s{os.urandom(3).hex()}"
    mine, other, blocking = os.urandom(32), os.urandom(32), os.urandom(32)

    async def wait() -> tuple[Answer | None, Answer | None]:
        future = answers.expect(mine)
        unanswered = answers.expect(os.urandom(32))
        client.publish(answers_channel(subnet), b"not json")  # dropped, logged
        publish(client, subnet, other, b"not for us")
        publish(client, subnet, mine, b"\xd9\xd9\xf7certified", 200)
        answer = await answers.wait(future, timeout=30)
        timed_out = await answers.wait(unanswered, timeout=0.05)
        answers.forget(mine, future)
        return answer, timed_out

    try:
        answer, timed_out = asyncio.run(wait())
        assert answer is not None and timed_out is None
        assert (answer.request_id, answer.subnet, answer.height, answer.outcome,
                answer.status, answer.body) == (
            mine, subnet, 7, "replied", 200, b"\xd9\xd9\xf7certified")
        future = answers.expect_blocking(blocking)
        publish(client, subnet, blocking, b"refused: bad", 400, "refused")
        refused = future.result(30)
        assert (refused.outcome, refused.status, refused.body) == ("refused", 400, b"refused: bad")
        answers.forget(blocking, future)
        assert answers.resolved == 2
    finally:
        answers.stop()
        client.close()
