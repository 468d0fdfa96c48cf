"""The scale-out deployment's configuration: where PostgreSQL, the broker and Redis are.

Read from the environment (`ClusterConfig.from_env`), so subnet workers, front ends and
the ``cluster`` command of one deployment agree without sharing a settings file:

- ``ICFRAMEWORK_DATABASE_URL``: PostgreSQL (state, leases, registry, subnet keys).
- ``ICFRAMEWORK_BROKER_URL``: the Celery broker (``redis://`` or ``amqp://``).
- ``ICFRAMEWORK_REDIS_URL``: Redis for answers, heights and events; defaults to the
  broker URL when that is Redis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ClusterConfig",
    "ConfigError",
    "ScaleoutError",
    "answers_channel",
    "height_key",
    "queue_name",
    "rounds_channel",
]

DATABASE_VARIABLE = "ICFRAMEWORK_DATABASE_URL"
BROKER_VARIABLE = "ICFRAMEWORK_BROKER_URL"
REDIS_VARIABLE = "ICFRAMEWORK_REDIS_URL"


class ScaleoutError(Exception):
    """The root of the scale-out package's errors."""


class ConfigError(ScaleoutError):
    """A configuration variable is missing or malformed."""


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """The services of one scale-out deployment (see the module docstring)."""

    database_url: str
    broker_url: str
    redis_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClusterConfig:
        """The configuration in ``environ`` (default: `os.environ`); raises `ConfigError`
        naming the variable that is missing or malformed."""
        env = os.environ if environ is None else environ
        database = env.get(DATABASE_VARIABLE, "").strip()
        if not database:
            raise ConfigError(
                f"{DATABASE_VARIABLE} is not set; set it to the PostgreSQL URL of the "
                "cluster, e.g. postgresql://postgres@127.0.0.1:5432/ic")
        if not database.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"{DATABASE_VARIABLE}={database!r} is not a postgresql:// URL")
        broker = env.get(BROKER_VARIABLE, "").strip()
        if not broker:
            raise ConfigError(
                f"{BROKER_VARIABLE} is not set; set it to the Celery broker, e.g. "
                "redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//")
        if not broker.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
            raise ConfigError(f"{BROKER_VARIABLE}={broker!r}: expected a redis:// or amqp:// URL")
        redis_url = env.get(REDIS_VARIABLE, "").strip()
        if not redis_url:
            if not broker.startswith(("redis://", "rediss://")):
                raise ConfigError(
                    f"{REDIS_VARIABLE} is not set and the broker {broker!r} is not Redis; "
                    "set it to the Redis URL for answers and events, e.g. redis://127.0.0.1:6379/0")
            redis_url = broker
        if not redis_url.startswith(("redis://", "rediss://")):
            raise ConfigError(f"{REDIS_VARIABLE}={redis_url!r} is not a redis:// URL")
        return cls(database, broker, redis_url)

    def env(self) -> dict[str, str]:
        """The variables that give this configuration (for child processes)."""
        return {DATABASE_VARIABLE: self.database_url, BROKER_VARIABLE: self.broker_url,
                REDIS_VARIABLE: self.redis_url}


def queue_name(subnet: str) -> str:
    """The Celery queue of subnet ``subnet``'s writer."""
    return f"subnet.{subnet}"


def answers_channel(subnet: str) -> str:
    """The Redis pub/sub channel of ``subnet``'s answers."""
    return f"icframework:answers:{subnet}"


def height_key(subnet: str) -> str:
    """The Redis key holding ``subnet``'s latest committed height."""
    return f"icframework:height:{subnet}"


def rounds_channel(subnet: str) -> str:
    """The Redis pub/sub channel announcing ``subnet``'s committed heights."""
    return f"icframework:rounds:{subnet}"
