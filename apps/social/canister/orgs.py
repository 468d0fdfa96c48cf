"""Organisations: company and school pages with admins, followers and a jobs list.

The creator is the first admin; admins add and remove admins (never the last one),
edit the page, post jobs (`jobs`), attest employment (`trust`) and post as the
organisation (posts with an organisation scope). Anyone signed in may follow a page.
Pages are found by name words (`find_orgs`, indexed).
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query, update

from . import limits, profiles, ratelimit
from .records import Org, OrgInput, OrgView, PersonCard
from .store import (
    MAX_ID,
    MAX_PRINCIPAL,
    MIN_PRINCIPAL,
    admin_orgs,
    org_admins,
    org_followers,
    org_index,
)
from .store import followed_orgs as followed
from .text import bounded, link, tokens

# -- the contract ---------------------------------------------------------------------------

def exists(org_id: int) -> bool:
    return Org.objects.filter(id=org_id).first() is not None


def is_admin(org_id: int, p: Principal) -> bool:
    return (org_id, p) in org_admins


def followed_orgs(p: Principal) -> list[int]:
    """The organisations ``p`` follows, in id order."""
    return [org_id for (_, org_id), _ in followed.range((p, 0), (p, MAX_ID))]


def get(org_id: int) -> Org:
    org = Org.objects.filter(id=org_id).first()
    if org is None:
        raise Reject(f"no organisation {org_id}: see find_orgs")
    return org


def require_admin(org_id: int, p: Principal) -> Org:
    """The organisation, if ``p`` is one of its admins; `Reject` otherwise."""
    org = get(org_id)
    if not is_admin(org_id, p):
        raise Reject(f"{p} is not an admin of {org.name} ({org_id}): ask one of its admins")
    return org


# -- helpers --------------------------------------------------------------------------------

def _slug(name: str) -> str:
    words = tokens(name, limit=8)
    base = "_".join(words)[:30] or "org"
    slug, n = base, 2
    while Org.objects.filter(handle=slug).first() is not None:
        slug, n = f"{base}_{n}", n + 1
    return slug


def _validated(data: OrgInput) -> tuple[str, str, str, str]:
    name = bounded("an organisation's name", data.name, limits.MAX_ORG_NAME_CHARS,
                   required=True)
    about = bounded("about", data.about, limits.MAX_ORG_ABOUT_CHARS, one_line=False)
    website = link(data.website) if data.website.strip() else ""
    location = bounded("a location", data.location, limits.MAX_LOCATION_CHARS)
    return name, about, website, location


def _index(org: Org, add: bool) -> None:
    for word in tokens(org.name):
        if add:
            org_index[(word, org.id)] = True
        else:
            org_index.remove((word, org.id))


def view(org: Org, viewer: Principal) -> OrgView:
    return OrgView(org, is_admin(org.id, viewer), (viewer, org.id) in followed)


# -- methods --------------------------------------------------------------------------------

@update
def create_org(data: OrgInput) -> OrgView:
    """Create a company or school page; the caller is its first admin."""
    me = ic.caller()
    profiles.require_user(me)
    name, about, website, location = _validated(data)
    ratelimit.check(me, "org")
    org = Org.objects.create(handle=_slug(name), name=name, kind=data.kind, about=about,
                             website=website, location=location, created_by=me,
                             created_at=ic.time(), admin_count=1)
    org_admins[(org.id, me)] = org.created_at
    admin_orgs[(me, org.id)] = org.created_at
    _index(org, True)
    return view(org, me)


@update
def update_org(org_id: nat64, data: OrgInput) -> OrgView:
    """Admins edit the page (attestations already made keep the name they were made with)."""
    me = ic.caller()
    org = require_admin(org_id, me)
    name, about, website, location = _validated(data)
    _index(org, False)
    org.name, org.kind, org.about, org.website, org.location = (
        name, data.kind, about, website, location)
    org.save()
    _index(org, True)
    return view(org, me)


@update
def add_org_admin(org_id: nat64, user: Principal) -> OrgView:
    me = ic.caller()
    org = require_admin(org_id, me)
    profiles.require_profile(user)
    if is_admin(org_id, user):
        return view(org, me)
    if org.admin_count >= limits.MAX_ADMINS:
        raise Reject(f"an organisation has at most {limits.MAX_ADMINS} admins")
    now = ic.time()
    org_admins[(org_id, user)] = now
    admin_orgs[(user, org_id)] = now
    org.admin_count += 1
    org.save()
    return view(org, me)


@update
def remove_org_admin(org_id: nat64, user: Principal) -> OrgView:
    """Admins remove an admin (themselves too), never the last one."""
    me = ic.caller()
    org = require_admin(org_id, me)
    if not is_admin(org_id, user):
        raise Reject(f"{user} is not an admin of {org.name}")
    if org.admin_count <= 1:
        raise Reject(f"{user} is the last admin of {org.name}: add another admin first")
    org_admins.remove((org_id, user))
    admin_orgs.remove((user, org_id))
    org.admin_count -= 1
    org.save()
    return view(org, me)


@update
def follow_org(org_id: nat64) -> OrgView:
    me = ic.caller()
    profiles.require_user(me)
    org = get(org_id)
    ratelimit.check(me, "graph")
    if (me, org_id) not in followed:
        now = ic.time()
        followed[(me, org_id)] = now
        org_followers[(org_id, me)] = now
        org.follower_count += 1
        org.save()
    return view(org, me)


@update
def unfollow_org(org_id: nat64) -> OrgView:
    me = ic.caller()
    profiles.require_user(me)
    org = get(org_id)
    if followed.remove((me, org_id)) is not None:
        org_followers.remove((org_id, me))
        org.follower_count -= 1
        org.save()
    return view(org, me)


@query
def org(org_id: nat64) -> OrgView | None:
    found = Org.objects.filter(id=org_id).first()
    return None if found is None else view(found, ic.caller())


@query
def org_by_handle(handle: str) -> OrgView | None:
    found = Org.objects.filter(handle=handle.strip().lower()).first()
    return None if found is None else view(found, ic.caller())


@query
def org_admins_of(org_id: nat64) -> list[PersonCard]:
    get(org_id)
    viewer = ic.caller()
    return [profiles.card_of(user, viewer) for (_, user), _ in org_admins.range(
        (org_id, MIN_PRINCIPAL), (org_id, MAX_PRINCIPAL), limit=limits.MAX_ADMINS)]


@query
def my_orgs() -> list[OrgView]:
    """The organisations the caller administers."""
    me = ic.caller()
    return [view(get(org_id), me) for (_, org_id), _ in admin_orgs.range((me, 0), (me, MAX_ID))]


@query
def find_orgs(words: str, limit: nat32) -> list[OrgView]:
    """Organisations whose name has every word of ``words`` (empty: the newest ones)."""
    viewer = ic.caller()
    n = max(1, min(limit, limits.MAX_SEARCH_RESULTS))
    terms = tokens(words, limit=limits.MAX_QUERY_TOKENS)
    if not terms:
        return [view(o, viewer) for o in Org.objects.order_by("-id").paginate(None, n).items]
    first, rest = terms[0], terms[1:]
    out = []
    for (_, org_id), _ in org_index.range((first, 0), (first, MAX_ID), reverse=True,
                                          limit=limits.MAX_SEARCH_SCAN):
        if all((t, org_id) in org_index for t in rest):
            out.append(view(get(org_id), viewer))
            if len(out) >= n:
                break
    return out
