"""Trust: skill endorsements, written recommendations and certified employment attestations.

* **Endorsements** come only from 1st-degree connections, for a skill on the
  subject's profile, once per endorser and skill. When the two stop being connected
  (removal or block) their endorsements of each other go; a skill removed from a
  profile takes its endorsements with it. So every endorsement shown is from a
  current connection.
* **Recommendations**: the subject may ask a connection for one
  (`request_recommendation`); a connection writes it (`write_recommendation`, which
  answers the request if there is one); it shows on the profile only after the
  subject accepts it (`accept_recommendation`); the subject may decline or hide it.
* **Attestations**: an organisation's admin states that a member held a role
  (`attest_employment`), and may revoke it; the member may remove it from their
  profile. Every live attestation is in the canister's certified data:

  ``leaf = SHA-256("icframework-social-attestation" ‖ id (8 bytes, big-endian) ‖
  org_id (8) ‖ len(member) (1) ‖ member ‖ for org_name, title, start, end each:
  len (4, big-endian) ‖ UTF-8 bytes)`` (an open ``end`` is the empty string).

  Attestations fall into 256 buckets by ``id % 256``; a bucket's hash is the SHA-256
  of its leaves in id order (32 zero bytes when empty) and the certified data is the
  SHA-256 of the 256 bucket hashes, set with ``ic.set_certified_data``. The
  ``certified_attestation`` query returns the attestation with that witness (its
  bucket's leaves and the bucket hashes) and the replica's data certificate, so a
  browser checks the certificate's signature, reads ``certified_data`` from it and
  recomputes this chain (`verify` is the same check in Python).
"""

from __future__ import annotations

import hashlib

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query, update

from . import graph, limits, notifications, orgs, profiles, ratelimit
from .records import (
    Attestation,
    CertifiedAttestation,
    PersonCard,
    Recommendation,
    RecommendationStatus,
    RecommendationView,
)
from .store import (
    MAX_ID,
    MAX_PRINCIPAL,
    MIN_PRINCIPAL,
    attestations,
    cert_buckets,
    cert_leaves,
    count_down,
    count_up,
    endorsed,
    endorsement_counts,
    endorsements,
    member_attestations,
    next_id,
)
from .text import bounded, month, skill_key

EMPTY = bytes(32)
BUCKETS = 256
LEAF_DOMAIN = b"icframework-social-attestation"


# -- endorsements ---------------------------------------------------------------------------

def endorsement_count(subject: Principal, skill: str) -> int:
    return endorsement_counts.get((subject, skill_key(skill)), 0)


def has_endorsed(endorser: Principal, subject: Principal, skill: str) -> bool:
    return (subject, skill_key(skill), endorser) in endorsements


def _unendorse(endorser: Principal, subject: Principal, key: str) -> None:
    if endorsements.remove((subject, key, endorser)) is None:
        return
    endorsed.remove((endorser, subject, key))
    count_down(endorsement_counts, (subject, key))


def drop_between(a: Principal, b: Principal) -> None:
    """Remove every endorsement of ``a`` by ``b`` and of ``b`` by ``a`` (bounded by
    the skills on a profile)."""
    for endorser, subject in ((a, b), (b, a)):
        keys = [key for (_, _, key), _ in endorsed.range(
            (endorser, subject, ""), (endorser, subject, "\U0010ffff"))]
        for key in keys:
            _unendorse(endorser, subject, key)


def drop_skill(subject: Principal, skill: str) -> None:
    """Remove every endorsement of ``subject``'s ``skill`` (at most one per connection)."""
    key = skill_key(skill)
    endorsers = [e for (_, _, e), _ in endorsements.range(
        (subject, key, MIN_PRINCIPAL), (subject, key, MAX_PRINCIPAL))]
    for endorser in endorsers:
        _unendorse(endorser, subject, key)


def _skill_on(subject: Principal, skill: str) -> str:
    profile = profiles.require_profile(subject)
    key = skill_key(skill)
    for s in profile.skills:
        if skill_key(s) == key:
            return key
    raise Reject(f"@{profile.handle} does not list the skill {skill[:40]!r}: endorse one of "
                 f"{', '.join(profile.skills) or 'their skills (they have none yet)'}")


@update
def endorse(user: Principal, skill: str) -> nat32:
    """Endorse ``user`` for one of their skills (only 1st-degree connections may);
    returns the skill's endorsement count."""
    me = ic.caller()
    profiles.require_user(me)
    if user == me:
        raise Reject("you cannot endorse yourself")
    key = _skill_on(user, skill)
    if not graph.is_connected(me, user):
        raise Reject(f"only connections endorse: connect with @{profiles.handle_of(user)} first")
    ratelimit.check(me, "endorse")
    if (user, key, me) not in endorsements:
        now = ic.time()
        endorsements[(user, key, me)] = now
        endorsed[(me, user, key)] = now
        count_up(endorsement_counts, (user, key))
        notifications.notify(user, "endorsement", me, skill, f"profile:{user}")
    return endorsement_counts[(user, key)]


@update
def unendorse(user: Principal, skill: str) -> nat32:
    """Withdraw the caller's endorsement of ``user``'s ``skill``; returns the new count."""
    me = ic.caller()
    profiles.require_user(me)
    key = skill_key(skill)
    if (user, key, me) not in endorsements:
        raise Reject(f"you have not endorsed {user} for {skill[:40]!r}")
    _unendorse(me, user, key)
    return endorsement_counts.get((user, key), 0)


@query
def endorsers(user: Principal, skill: str) -> list[PersonCard]:
    """Who endorsed ``user``'s ``skill`` (at most 50; the count is on the profile)."""
    viewer = ic.caller()
    if profiles.visible_to(user, viewer) is None:
        return []
    from . import safety

    if not safety.can_see_section(viewer, user, "skills"):
        return []
    key = skill_key(skill)
    out = []
    for (_, _, endorser), _ in endorsements.range(
            (user, key, MIN_PRINCIPAL), (user, key, MAX_PRINCIPAL),
            limit=limits.MAX_ENDORSERS_SHOWN):
        profile = profiles.visible_to(endorser, viewer)
        if profile is not None:
            out.append(profiles.card(profile, viewer))
    return out


# -- recommendations ------------------------------------------------------------------------

def _rec_view(rec: Recommendation, viewer: Principal) -> RecommendationView:
    return RecommendationView(rec.id, profiles.card_of(rec.author, viewer),
                              profiles.card_of(rec.subject, viewer), rec.relationship,
                              rec.text, rec.request_note, rec.status, rec.updated_at)


def _open_between(author: Principal, subject: Principal) -> Recommendation | None:
    for rec in Recommendation.objects.filter(author=author):
        if rec.subject == subject and rec.status in (RecommendationStatus.requested,
                                                     RecommendationStatus.pending):
            return rec
    return None


def _get_rec(rec_id: int) -> Recommendation:
    rec = Recommendation.objects.filter(id=rec_id).first()
    if rec is None:
        raise Reject(f"no recommendation {rec_id}")
    return rec


@update
def request_recommendation(author: Principal, note: str) -> RecommendationView:
    """Ask a connection to write the caller a recommendation, with a note."""
    me = ic.caller()
    profiles.require_user(me)
    if not graph.is_connected(me, author):
        raise Reject(f"ask a connection: {author} is not one of yours")
    ratelimit.check(me, "recommend")
    if _open_between(author, me) is not None:
        raise Reject(f"@{profiles.handle_of(author)} already has an open recommendation "
                     "for you: wait for it")
    now = ic.time()
    rec = Recommendation.objects.create(
        author=author, subject=me, relationship="", text="",
        request_note=bounded("a request's note", note, limits.MAX_NOTE_CHARS, one_line=False),
        status=RecommendationStatus.requested, created_at=now, updated_at=now)
    notifications.notify(author, "recommendation", me, "asks you for a recommendation",
                         f"profile:{me}")
    return _rec_view(rec, me)


@update
def write_recommendation(subject: Principal, relationship: str, text: str
                         ) -> RecommendationView:
    """Write a recommendation for a connection; it shows once they accept it."""
    me = ic.caller()
    profiles.require_user(me)
    if subject == me:
        raise Reject("you cannot recommend yourself")
    if not graph.is_connected(me, subject):
        raise Reject(f"recommend a connection: {subject} is not one of yours")
    body = bounded("a recommendation", text, limits.MAX_RECOMMENDATION_CHARS, required=True,
                   one_line=False)
    rel = bounded("a relationship", relationship, limits.MAX_RELATIONSHIP_CHARS)
    ratelimit.check(me, "recommend")
    now = ic.time()
    rec = _open_between(me, subject)
    if rec is None:
        rec = Recommendation.objects.create(
            author=me, subject=subject, relationship=rel, text=body, request_note="",
            status=RecommendationStatus.pending, created_at=now, updated_at=now)
    else:
        rec.relationship, rec.text, rec.status, rec.updated_at = (
            rel, body, RecommendationStatus.pending, now)
        rec.save()
    notifications.notify(subject, "recommendation", me, "wrote you a recommendation",
                         f"profile:{subject}")
    return _rec_view(rec, me)


@update
def accept_recommendation(rec_id: nat64) -> RecommendationView:
    """The subject accepts a written recommendation: it shows on their profile."""
    me = ic.caller()
    rec = _get_rec(rec_id)
    if rec.subject != me:
        raise Reject(f"recommendation {rec_id} is not about you: only its subject accepts it")
    if rec.status is not RecommendationStatus.pending:
        raise Reject(f"recommendation {rec_id} is {rec.status.value}: only a written "
                     "(pending) one is accepted")
    rec.status, rec.updated_at = RecommendationStatus.accepted, ic.time()
    rec.save()
    return _rec_view(rec, me)


@update
def decline_recommendation(rec_id: nat64) -> RecommendationView:
    """The subject declines (or later hides) a recommendation; the author may decline
    a request for one."""
    me = ic.caller()
    rec = _get_rec(rec_id)
    asked_author = rec.author == me and rec.status is RecommendationStatus.requested
    if rec.subject != me and not asked_author:
        raise Reject(f"recommendation {rec_id} is not yours to decline")
    rec.status, rec.updated_at = RecommendationStatus.declined, ic.time()
    rec.save()
    return _rec_view(rec, me)


@query
def recommendations_of(user: Principal) -> list[RecommendationView]:
    """``user``'s accepted recommendations, newest first (authors blocked by the
    caller are left out)."""
    viewer = ic.caller()
    if profiles.visible_to(user, viewer) is None:
        return []
    out = []
    for rec in Recommendation.objects.filter(subject=user):
        if rec.status is RecommendationStatus.accepted and not graph.is_blocked(viewer, rec.author):
            out.append(_rec_view(rec, viewer))
    out.sort(key=lambda r: -r.updated_at)
    return out


@query
def my_recommendations() -> list[RecommendationView]:
    """Everything the caller is part of: asked for, written, received (any status)."""
    me = ic.caller()
    profiles.require_user(me)
    recs = list(Recommendation.objects.filter(subject=me)) + \
        list(Recommendation.objects.filter(author=me))
    recs.sort(key=lambda r: -r.updated_at)
    return [_rec_view(r, me) for r in recs]


# -- certified attestations -----------------------------------------------------------------

def _field(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


def leaf_hash(a: Attestation) -> bytes:
    """The attestation's leaf in the certified tree (the layout is in the module doc)."""
    h = hashlib.sha256(LEAF_DOMAIN)
    h.update(a.id.to_bytes(8, "big"))
    h.update(a.org_id.to_bytes(8, "big"))
    raw = a.member.raw
    h.update(len(raw).to_bytes(1, "big") + raw)
    for value in (a.org_name, a.title, a.start, a.end or ""):
        h.update(_field(value))
    return h.digest()


def bucket_of(attestation_id: int) -> int:
    return attestation_id % BUCKETS


def bucket_hash(leaves: list[bytes]) -> bytes:
    return hashlib.sha256(b"".join(leaves)).digest() if leaves else EMPTY


def root_hash(buckets: list[bytes]) -> bytes:
    return hashlib.sha256(b"".join(buckets)).digest()


def verify(a: Attestation, bucket: list[bytes], buckets: list[bytes],
           certified_data: bytes) -> bool:
    """Whether ``a`` is certified by ``certified_data`` through ``bucket`` (its bucket's
    leaves) and ``buckets`` (all bucket hashes)."""
    if len(buckets) != BUCKETS or leaf_hash(a) not in bucket:
        return False
    if buckets[bucket_of(a.id)] != bucket_hash(bucket):
        return False
    return root_hash(buckets) == certified_data


def _bucket_leaves(b: int) -> list[bytes]:
    end = (b + 1, 0) if b + 1 < BUCKETS else None
    return [leaf for _key, leaf in cert_leaves.range((b, 0), end)]


def _all_buckets() -> list[bytes]:
    joined = cert_buckets.get()
    return [joined[32 * b: 32 * b + 32] for b in range(BUCKETS)]


def certify_root() -> None:
    """Set the certified data to the current root (install and upgrade call it)."""
    ic.set_certified_data(hashlib.sha256(cert_buckets.get()).digest())


def _certify(attestation_id: int, leaf: bytes | None) -> None:
    """Put (or with None, take) the attestation's leaf and certify the new root: one
    bucket's leaves are read; the 256 bucket hashes are one stored value."""
    b = bucket_of(attestation_id)
    if leaf is None:
        cert_leaves.remove((b, attestation_id))
    else:
        cert_leaves[(b, attestation_id)] = leaf
    joined = cert_buckets.get()
    cert_buckets.set(joined[: 32 * b] + bucket_hash(_bucket_leaves(b)) + joined[32 * b + 32:])
    certify_root()


def _remove(a: Attestation) -> None:
    attestations.remove(a.id)
    member_attestations.remove((a.member, a.id))
    _certify(a.id, None)


@update
def attest_employment(org_id: nat64, member: Principal, title: str, start: str,
                      end: str | None) -> Attestation:
    """An admin of organisation ``org_id`` attests that ``member`` held ``title`` from
    ``start`` to ``end`` (``YYYY-MM``; null: still does). It is certified at once."""
    me = ic.caller()
    profiles.require_user(me)
    org = orgs.require_admin(org_id, me)
    profiles.require_profile(member)
    if graph.is_blocked(me, member):
        raise Reject(f"you cannot attest for {member}: one of you blocked the other")
    ratelimit.check(me, "attest")
    first = month("the start", start)
    last = None if end is None else month("the end", end)
    if last is not None and last < first:
        raise Reject(f"the role ends ({last}) before it starts ({first}): swap the dates")
    a = Attestation(
        id=next_id("next_attestation"), org_id=org_id, org_name=org.name, member=member,
        title=bounded("a title", title, limits.MAX_ENTRY_TITLE_CHARS, required=True),
        start=first, end=last, attested_by=me, attested_at=ic.time())
    attestations[a.id] = a
    member_attestations[(member, a.id)] = True
    _certify(a.id, leaf_hash(a))
    return a


@update
def revoke_attestation(attestation_id: nat64) -> None:
    """An admin of the attesting organisation, or the member, removes an attestation
    (it leaves the certified data)."""
    me = ic.caller()
    a = attestations.get(attestation_id)
    if a is None:
        raise Reject(f"no attestation {attestation_id}")
    if a.member != me and not orgs.is_admin(a.org_id, me):
        raise Reject(f"attestation {attestation_id} is not yours: its member or an admin of "
                     f"{a.org_name} removes it")
    _remove(a)


@query
def attestations_of(user: Principal) -> list[Attestation]:
    """``user``'s live attestations, oldest first."""
    if profiles.visible_to(user, ic.caller()) is None:
        return []
    return [attestations[i] for (_, i), _ in member_attestations.range((user, 0), (user, MAX_ID))]


@query
def certified_attestation(attestation_id: nat64) -> CertifiedAttestation:
    """An attestation with the witness that it is in the certified data and the
    replica's data certificate (check it with the certificate before showing a badge)."""
    a = attestations.get(attestation_id)
    if a is None:
        raise Reject(f"no attestation {attestation_id} (it may have been revoked)")
    return CertifiedAttestation(a, leaf_hash(a), _bucket_leaves(bucket_of(a.id)),
                                _all_buckets(), ic.data_certificate())
