"""Each subnet's keys, kept in PostgreSQL (``ic_subnet_keys``) for its writer and front ends.

A subnet has a BLS key (it signs the subnet's certified state; the subnet id is the
self-authenticating principal of its public key) and a node key (Ed25519; it signs
query responses). ``manage.py cluster init`` makes them once (`ensure_keys`); the
writer and every front end of the subnet read the same keys (`load_keys`): BLS
signatures are deterministic, so a read-only copy certifying the same state at the same
height makes the same certificate as the writer, as every replica of an IC subnet
holds a share of the subnet's key. Anyone who can read this table can sign as the
subnet: give its database role to the cluster's processes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import BlsKeyPair
from icframework.scaleout.config import ScaleoutError

__all__ = ["KeysError", "SubnetKeys", "ensure_keys", "load_keys"]

_TABLE = (
    "CREATE TABLE IF NOT EXISTS ic_subnet_keys (name TEXT PRIMARY KEY, "
    "bls_secret BYTEA NOT NULL, node_seed BYTEA NOT NULL)"
)


class KeysError(ScaleoutError):
    """A subnet's keys are missing or the database cannot be reached."""


@dataclass(frozen=True)
class SubnetKeys:
    """The keys of subnet ``name``."""

    name: str
    bls: BlsKeyPair
    node: Ed25519Identity

    @property
    def subnet_id(self) -> Principal:
        return Principal.self_authenticating(self.bls.public_key_der)

    @property
    def node_seed(self) -> bytes:
        return bytes(self.node.seed)


def _connect(url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise KeysError(f"cannot reach the subnet keys' database: {exc}") from exc


def _row(conn: psycopg.Connection[Any], name: str) -> SubnetKeys | None:
    row = conn.execute("SELECT bls_secret, node_seed FROM ic_subnet_keys WHERE name = %s",
                       (name,)).fetchone()
    if row is None:
        return None
    return SubnetKeys(name, BlsKeyPair.from_secret(bytes(row[0])),
                      Ed25519Identity.from_seed(bytes(row[1])))


def ensure_keys(url: str, name: str) -> SubnetKeys:
    """Subnet ``name``'s keys, made and stored the first time (concurrent callers agree)."""
    fresh_bls = BlsKeyPair.generate()
    fresh_node = Ed25519Identity.generate()
    with _connect(url) as conn:
        conn.execute(_TABLE)
        conn.execute(
            "INSERT INTO ic_subnet_keys (name, bls_secret, node_seed) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO NOTHING",
            (name, fresh_bls.secret.to_bytes(32, "big"), bytes(fresh_node.seed)))
        keys = _row(conn, name)
    assert keys is not None
    return keys


def load_keys(url: str, name: str) -> SubnetKeys:
    """Subnet ``name``'s stored keys; raises `KeysError` if the cluster has none for it."""
    with _connect(url) as conn:
        try:
            keys = _row(conn, name)
        except psycopg.errors.UndefinedTable:
            keys = None
    if keys is None:
        raise KeysError(f"subnet {name!r} has no keys in the cluster's database; run "
                        f"`manage.py cluster init --subnets ...,{name}` first")
    return keys
