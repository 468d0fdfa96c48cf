"""Durable state of the social canister's identity, graph, trust, organisations, jobs and safety.

Nothing here is cached in Python; every map reads the canister's key-value store, so
state survives upgrades and rolled-back messages leave no trace. Pairs are stored in
both directions where both are asked, so one range scan answers each question:

* ``profiles[user]`` and ``handles[handle] -> user``; ``privacy[user]``;
* ``connections[(a, b)] -> since`` holds both ``(a, b)`` and ``(b, a)``;
  ``requests[(from, to)]`` and ``requests_in[(to, from)]``; ``follows[(a, b)]`` and
  ``followers[(b, a)]``; ``blocks[(a, b)]`` (a blocked b); ``counts[user]``;
* ``images[id]`` with ``chunks[(id, n)]`` of `uploads` (`icframework.sdk.ChunkedUploads`),
  where an upload is ``uploads[id]`` until committed; the latest of each user and kind
  is ``open_uploads[(user, kind)]``, which is how a commit knows the kind (records
  stored with a ``kind`` of their own before still load: Candid drops the field);
* ``endorsements[(subject, skill, endorser)]``, ``endorsement_counts[(subject, skill)]``
  and ``endorsed[(endorser, subject, skill)]`` (to drop them when the pair parts);
* ``cert_leaves[(bucket, attestation id)]`` and ``cert_buckets`` (see `trust`);
* ``org_admins[(org, user)]``/``admin_orgs[(user, org)]``,
  ``org_followers[(org, user)]``/``followed_orgs[(user, org)]``,
  ``org_members[(org, user)]`` (from experience and education entries);
* ``job_index[(term, job)]`` and ``people_index[(term, user)]`` with their
  ``*_term_counts`` (see `jobs` and `people`); ``applied[(job, user)] -> application``;
* ``pymk_dismissed[(user, other)]``, ``report_keys[(reporter, kind, target)]``,
  ``moderators``, ``rate_log[(user, action)]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from icframework.sdk import (
    ChunkedUploads,
    Principal,
    StableBTreeMap,
    StableCell,
    nat8,
    nat32,
    nat64,
)

from .limits import CHUNK_BYTES
from .records import Attestation, ImageKind, Privacy, Profile

K = TypeVar("K")


@dataclass
class Counts:
    connections: nat32 = 0
    followers: nat32 = 0
    following: nat32 = 0
    pending_out: nat32 = 0


@dataclass
class PendingRequest:
    note: str
    sent_at: nat64


@dataclass
class ImageMeta:
    owner: Principal
    kind: ImageKind
    content_type: str
    size: nat32
    chunks: nat32
    sha256: bytes


@dataclass
class Counters:
    next_image: nat64 = 1
    next_attestation: nat64 = 1


MIN_PRINCIPAL = Principal.management_canister()
"""The smallest principal (no bytes): the start of a scan over one user's pairs."""
MAX_PRINCIPAL = Principal(b"\xff" * 29)
"""Larger than every real principal: the (exclusive) end of such a scan."""
MAX_ID = (1 << 64) - 1

PP = tuple[Principal, Principal]

# identity
profiles = StableBTreeMap[Principal, Profile]("profiles")
handles = StableBTreeMap[str, Principal]("handles")
privacy = StableBTreeMap[Principal, Privacy]("privacy")
counters = StableCell[Counters]("counters", default=Counters())
images = StableBTreeMap[nat64, ImageMeta]("images")
uploads = ChunkedUploads(
    "", CHUNK_BYTES,
    not_found="no upload {id} of {owner} in progress: begin_profile_image first",
    incomplete="upload {id} has {received} of {size} bytes: send the missing chunks",
    wrong_type="upload {id} is not a {content_type} file: upload the picture itself")
open_uploads = StableBTreeMap[tuple[Principal, str], nat64]("open_uploads")

# graph
connections = StableBTreeMap[PP, nat64]("connections")
requests = StableBTreeMap[PP, PendingRequest]("requests")
requests_in = StableBTreeMap[PP, nat64]("requests_in")
follows = StableBTreeMap[PP, nat64]("follows")
followers = StableBTreeMap[PP, nat64]("followers")
blocks = StableBTreeMap[PP, nat64]("blocks")
counts = StableBTreeMap[Principal, Counts]("counts")

# trust
endorsements = StableBTreeMap[tuple[Principal, str, Principal], nat64]("endorsements")
endorsement_counts = StableBTreeMap[tuple[Principal, str], nat32]("endorsement_counts")
endorsed = StableBTreeMap[tuple[Principal, Principal, str], nat64]("endorsed")
attestations = StableBTreeMap[nat64, Attestation]("attestations")
member_attestations = StableBTreeMap[tuple[Principal, nat64], bool]("member_attestations")
cert_leaves = StableBTreeMap[tuple[nat8, nat64], bytes]("cert_leaves")
cert_buckets = StableCell[bytes]("cert_buckets", default=bytes(32 * 256))

# organisations
org_admins = StableBTreeMap[tuple[nat64, Principal], nat64]("org_admins")
admin_orgs = StableBTreeMap[tuple[Principal, nat64], nat64]("admin_orgs")
org_followers = StableBTreeMap[tuple[nat64, Principal], nat64]("org_followers")
followed_orgs = StableBTreeMap[tuple[Principal, nat64], nat64]("followed_orgs")
org_members = StableBTreeMap[tuple[nat64, Principal], bool]("org_members")
org_index = StableBTreeMap[tuple[str, nat64], bool]("org_index")

# jobs
job_index = StableBTreeMap[tuple[str, nat64], bool]("job_index")
job_term_counts = StableBTreeMap[str, nat32]("job_term_counts")
applied = StableBTreeMap[tuple[nat64, Principal], nat64]("applied")

# people
people_index = StableBTreeMap[tuple[str, Principal], bool]("people_index")
people_term_counts = StableBTreeMap[str, nat32]("people_term_counts")
people_terms = StableBTreeMap[Principal, list[str]]("people_terms")
pymk_dismissed = StableBTreeMap[PP, nat64]("pymk_dismissed")

# safety
moderators = StableBTreeMap[Principal, bool]("moderators")
report_keys = StableBTreeMap[tuple[Principal, str, str], nat64]("report_keys")
rate_log = StableBTreeMap[tuple[Principal, str], list[nat64]]("rate_log")


def counts_of(user: Principal) -> Counts:
    return counts.get(user) or Counts()


def bump(user: Principal, **delta: int) -> None:
    """Add ``delta`` to ``user``'s named counters (never below zero)."""
    now = counts_of(user)
    for name, amount in delta.items():
        setattr(now, name, max(0, getattr(now, name) + amount))
    counts[user] = now


def next_id(name: str) -> int:
    """Take the next value of the counter ``name`` of `Counters`."""
    state = counters.get()
    value: int = getattr(state, name)
    setattr(state, name, value + 1)
    counters.set(state)
    return value


def count_up(counter: StableBTreeMap[K, int], key: K) -> None:
    """Add one to ``counter[key]`` (a missing entry counts as zero)."""
    counter[key] = counter.get(key, 0) + 1


def count_down(counter: StableBTreeMap[K, int], key: K) -> None:
    """Take one from ``counter[key]``, removing the entry when it reaches zero, so a
    counter map holds only keys that something still counts."""
    left = counter.get(key, 1) - 1
    if left:
        counter[key] = left
    else:
        counter.remove(key)
