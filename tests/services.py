"""Fixtures for tests that need the scale-out services: PostgreSQL, Redis, RabbitMQ.

Use them from a test module with ``pytest_plugins = ["tests.services"]`` and mark the
tests ``@pytest.mark.services``. Each service is looked for on 127.0.0.1 (override with
``IC_TEST_POSTGRES_URL``, ``IC_TEST_REDIS_URL``, ``IC_TEST_RABBITMQ_URL``); a test whose
service does not answer is SKIPPED with a reason naming the address and how to start it.

- ``postgres_database`` (session): the URL of a database created for this test session
  under a unique name and dropped (with its connections) when the session ends.
- ``postgres_url`` (function): the same database with a fresh schema of its own as the
  connections' ``search_path``, so every test starts from empty tables.
- ``redis_url``, ``rabbitmq_url`` (session): the broker URLs, once they answered.
"""

from __future__ import annotations

import itertools
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from psycopg import sql

POSTGRES_URL = os.environ.get(
    "IC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("IC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("IC_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")

_schemas = itertools.count(1)


def service_answers(url: str, default_port: int) -> str | None:
    """None if a TCP connection to ``url``'s host and port succeeds, else why not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"nothing answers on {host}:{port} ({exc})"


def with_database(url: str, dbname: str, **query: str) -> str:
    """``url`` pointed at database ``dbname``, with extra connection parameters."""
    parts = urlsplit(url)
    params = "&".join(f"{key}={quote(value, safe='')}" for key, value in query.items())
    return parts._replace(path=f"/{dbname}", query=params).geturl()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    why = service_answers(POSTGRES_URL, 5432)
    if why is not None:
        pytest.skip(f"PostgreSQL is not running: {why}; start it or set IC_TEST_POSTGRES_URL")
    name = f"ic_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} refuses connections: {exc}")
    with admin:
        drop_abandoned_databases(admin)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(POSTGRES_URL, name)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def drop_abandoned_databases(admin: psycopg.Connection[tuple[object, ...]]) -> None:
    """Drop the test databases of sessions whose process is gone (killed before cleanup).

    Only on a server on this machine (the process id in the name means nothing elsewhere)
    and only databases nobody is connected to.
    """
    if urlsplit(POSTGRES_URL).hostname not in ("127.0.0.1", "localhost", "::1"):
        return
    rows = admin.execute(
        "SELECT datname FROM pg_database d WHERE datname LIKE 'ic\\_test\\_%' AND NOT EXISTS "
        "(SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"
    ).fetchall()
    for (dbname,) in rows:
        dbname = str(dbname)
        pid = dbname.split("_")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


def fresh_schema(database_url: str) -> str:
    """Create a new empty schema in ``database_url``; return a URL that works in it."""
    schema = f"t{next(_schemas)}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    dbname = urlsplit(database_url).path.lstrip("/")
    return with_database(database_url, dbname, options=f"-csearch_path={schema}")


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    return fresh_schema(postgres_database)


@pytest.fixture(scope="session")
def redis_url() -> str:
    why = service_answers(REDIS_URL, 6379)
    if why is not None:
        pytest.skip(f"Redis is not running: {why}; start it or set IC_TEST_REDIS_URL")
    return REDIS_URL


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    why = service_answers(RABBITMQ_URL, 5672)
    if why is not None:
        pytest.skip(f"RabbitMQ is not running: {why}; start it or set IC_TEST_RABBITMQ_URL")
    return RABBITMQ_URL
