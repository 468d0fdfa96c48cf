"""People search and people you may know, both indexed: neither reads every profile.

Search postings are ``people_index[(term, user)]``: ``w:<word>`` for every word of the
name, handle and headline, of each skill while the skills are public and of each
organisation and school while experience and education are public (a search never
reveals a hidden section), and ``k:<skill>`` for each public skill. `reindex` rewrites
one user's postings after every profile or privacy change. A search walks the
postings of its rarest word (in principal order, at most `limits.MAX_SEARCH_SCAN`
entries) and keeps the people who have every other word.

People you may know come from three bounded sources: the connections of the caller's
first `limits.PYMK_FRIENDS` connections (`limits.PYMK_FANOUT` each: mutual
connections), the people linked to the same organisations and schools, and people
with the same public skills (`limits.PYMK_PER_SHARED` each, first 10 skills). The
score is ``10 × mutual + 5 × shared organisations + 2 × shared skills``; connections,
pending requests, blocks and dismissed suggestions are left out.
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic, nat32, query, update

from . import graph, limits, profiles, safety
from .records import PersonCard, PersonPage, Suggestion
from .store import (
    MAX_PRINCIPAL,
    MIN_PRINCIPAL,
    count_down,
    count_up,
    org_members,
    people_index,
    people_term_counts,
    people_terms,
    pymk_dismissed,
)
from .text import skill_key, tokens

PYMK_SKILLS = 10
"""Skills of the caller used to find people with the same skills."""


def terms_of(user: Principal) -> list[str]:
    """The postings ``user`` has now (what the index should hold)."""
    profile = profiles.get_profile(user)
    if profile is None:
        return []
    public = Principal.anonymous()
    parts = [profile.name, profile.handle, profile.headline]
    skills = safety.can_see_section(public, user, "skills")
    if skills:
        parts += profile.skills
    if safety.can_see_section(public, user, "experience"):
        parts += [e.organisation for e in profile.experience]
    if safety.can_see_section(public, user, "education"):
        parts += [e.school for e in profile.education]
    terms = [f"w:{w}" for w in tokens(" ".join(parts))]
    if skills:
        terms += [f"k:{skill_key(s)}" for s in profile.skills]
    return list(dict.fromkeys(terms))


def reindex(user: Principal) -> None:
    """Bring ``user``'s postings in line with the profile and privacy settings."""
    old = set(people_terms.get(user, []))
    new = terms_of(user)
    for term in old - set(new):
        people_index.remove((term, user))
        count_down(people_term_counts, term)
    for term in new:
        if term not in old:
            people_index[(term, user)] = True
            count_up(people_term_counts, term)
    people_terms[user] = new


@query
def search_people(words: str, cursor: str | None, limit: nat32) -> PersonPage:
    """People whose name, handle, headline, public skills or public organisations hold
    every word of ``words``, in principal order; ``next`` pages on."""
    viewer = ic.caller()
    n = max(1, min(limit, limits.MAX_SEARCH_RESULTS))
    terms = [f"w:{w}" for w in tokens(words, limit=limits.MAX_QUERY_TOKENS)]
    if not terms:
        return PersonPage([], None)
    start = MIN_PRINCIPAL
    if cursor:
        try:
            start = Principal.from_text(cursor)
        except ValueError:
            raise Reject(f"bad cursor {cursor[:60]!r}: pass back the page's next") from None
    lead = min(terms, key=lambda t: people_term_counts.get(t, 0))
    rest = [t for t in terms if t != lead]
    found: list[PersonCard] = []
    following = None
    for (_, user), _ in people_index.range((lead, start), (lead, MAX_PRINCIPAL),
                                           limit=limits.MAX_SEARCH_SCAN):
        if len(found) >= n:
            following = user
            break
        if not all((t, user) in people_index for t in rest):
            continue
        profile = profiles.visible_to(user, viewer)
        if profile is not None:
            found.append(profiles.card(profile, viewer))
    return PersonPage(found, None if following is None else following.to_text())


def _excluded(me: Principal, other: Principal) -> bool:
    return (other == me or graph.is_connected(me, other) or graph.is_blocked(me, other)
            or graph.request_pending(me, other) or graph.request_pending(other, me)
            or (me, other) in pymk_dismissed)


@query
def people_you_may_know() -> list[Suggestion]:
    """Up to 20 suggestions for the caller, best first (see the module doc for the score)."""
    me = ic.caller()
    profile = profiles.require_user(me)
    mutual: dict[Principal, int] = {}
    for friend in graph._scan(graph.edges, me, limits.PYMK_FRIENDS):
        for other in graph._scan(graph.edges, friend, limits.PYMK_FANOUT):
            mutual[other] = mutual.get(other, 0) + 1
    shared_orgs: dict[Principal, int] = {}
    linked = {e.org_id for e in profile.experience} | {e.org_id for e in profile.education}
    for org_id in sorted(i for i in linked if i is not None):
        for (_, other), _ in org_members.range((org_id, MIN_PRINCIPAL), (org_id, MAX_PRINCIPAL),
                                               limit=limits.PYMK_PER_SHARED):
            shared_orgs[other] = shared_orgs.get(other, 0) + 1
    shared_skills: dict[Principal, int] = {}
    for skill in profile.skills[:PYMK_SKILLS]:
        term = f"k:{skill_key(skill)}"
        for (_, other), _ in people_index.range((term, MIN_PRINCIPAL), (term, MAX_PRINCIPAL),
                                                limit=limits.PYMK_PER_SHARED):
            shared_skills[other] = shared_skills.get(other, 0) + 1
    scored = []
    for other in set(mutual) | set(shared_orgs) | set(shared_skills):
        if _excluded(me, other):
            continue
        m, o, s = mutual.get(other, 0), shared_orgs.get(other, 0), shared_skills.get(other, 0)
        scored.append((10 * m + 5 * o + 2 * s, other, m, o, s))
    scored.sort(key=lambda row: (-row[0], row[1].raw))
    out = []
    for score, other, m, o, s in scored:
        found = profiles.get_profile(other)
        if found is not None:
            out.append(Suggestion(profiles.card(found, me), m, o, s, score))
            if len(out) >= limits.PYMK_RESULTS:
                break
    return out


@update
def dismiss_suggestion(user: Principal) -> None:
    """Never suggest ``user`` to the caller again."""
    me = ic.caller()
    profiles.require_user(me)
    pymk_dismissed[(me, user)] = ic.time()
