"""Identity and profiles: a handle, the profile, experience, education, skills and pictures.

The user is the caller's principal (a key held by the browser); `register` gives it a
unique handle. Pictures (avatar and banner) are uploaded in chunks
(`begin_profile_image`, `upload_profile_image_chunk`, `commit_profile_image`) and
served by the gateway at ``/avatars/<id>`` and ``/banners/<id>``: a new picture gets a
new id, so the old URL stays immutable and is cached for a year. Views apply the
owner's per-section visibility (`safety.can_see_section`).
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query, update

from . import graph, limits, people, ratelimit, safety, trust
from .records import (
    Education,
    Experience,
    ImageKind,
    PersonCard,
    Profile,
    ProfileInput,
    ProfileView,
    Relation,
    SkillView,
)
from .store import (
    ImageMeta,
    counts_of,
    handles,
    images,
    next_id,
    open_uploads,
    org_members,
    profiles,
    uploads,
)
from .text import bounded, link, month, normalize_handle, skill_key

# -- the contract ---------------------------------------------------------------------------

def get_profile(p: Principal) -> Profile | None:
    """``p``'s stored profile, or None if ``p`` has not registered."""
    return profiles.get(p)


def require_user(caller: Principal) -> Profile:
    """``caller``'s profile; `Reject` if they have none (the anonymous principal never has)."""
    if caller.is_anonymous:
        raise Reject("sign in first: the anonymous principal has no profile")
    profile = profiles.get(caller)
    if profile is None:
        raise Reject(f"{caller} has no profile yet: call register(handle, name) first")
    return profile


def handle_of(p: Principal) -> str | None:
    profile = profiles.get(p)
    return None if profile is None else profile.handle


def principal_of_handle(handle: str) -> Principal | None:
    """The owner of ``handle`` (``@`` optional, any case), or None."""
    return handles.get(handle.strip().removeprefix("@").lower())


def resolve(who: str) -> Principal | None:
    """A handle (``@`` optional) or a principal's text → a registered principal, or None."""
    text = who.strip()
    user = principal_of_handle(text)
    if user is None and "-" in text:
        try:
            user = Principal.from_text(text)
        except ValueError:
            return None
    return user if user is not None and user in profiles else None


def require_profile(user: Principal) -> Profile:
    """``user``'s profile; `Reject` naming ``user`` if there is none."""
    profile = profiles.get(user)
    if profile is None:
        raise Reject(f"{user} has no profile: check the principal or the handle")
    return profile


# -- views ----------------------------------------------------------------------------------

def card(profile: Profile, viewer: Principal) -> PersonCard:
    return PersonCard(profile.user, profile.handle, profile.name, profile.headline,
                      profile.avatar, graph.degree(viewer, profile.user))


def card_of(user: Principal, viewer: Principal) -> PersonCard:
    """The card of ``user`` (a placeholder card if the profile is gone)."""
    profile = profiles.get(user)
    if profile is None:
        return PersonCard(user, "", "(deleted)", "", None, 3)
    return card(profile, viewer)


def _relation(viewer: Principal, user: Principal) -> Relation:
    if viewer == user:
        return Relation.own
    if graph.is_connected(viewer, user):
        return Relation.connected
    if graph.request_pending(viewer, user):
        return Relation.request_sent
    if graph.request_pending(user, viewer):
        return Relation.request_received
    return Relation.none


def view(profile: Profile, viewer: Principal) -> ProfileView:
    """``profile`` as ``viewer`` may see it (hidden sections are null)."""
    user = profile.user

    def sees(section: str) -> bool:
        return safety.can_see_section(viewer, user, section)

    skills = None
    if sees("skills"):
        skills = [SkillView(s, trust.endorsement_count(user, s),
                            trust.has_endorsed(viewer, user, s)) for s in profile.skills]
    c = counts_of(user)
    degree = graph.degree(viewer, user)
    return ProfileView(
        user=user, handle=profile.handle, name=profile.name, headline=profile.headline,
        location=profile.location, avatar=profile.avatar, banner=profile.banner,
        open_to_work=profile.open_to_work,
        about=profile.about if sees("about") else None,
        links=list(profile.links) if sees("links") else None,
        experience=list(profile.experience) if sees("experience") else None,
        education=list(profile.education) if sees("education") else None,
        skills=skills,
        connection_count=c.connections if sees("connections") else None,
        follower_count=c.followers, following_count=c.following, degree=degree,
        mutual_count=graph.mutual_count(viewer, user) if viewer != user else 0,
        relation=_relation(viewer, user), following=graph.is_following(viewer, user),
        can_request=safety.request_refusal(viewer, user) is None,
        created_at=profile.created_at,
    )


def visible_to(user: Principal, viewer: Principal) -> Profile | None:
    """``user``'s profile unless there is none or a block stands between them."""
    profile = profiles.get(user)
    if profile is None or graph.is_blocked(viewer, user):
        return None
    return profile


# -- validation -----------------------------------------------------------------------------

def _end(what: str, start: str, end: str | None) -> str | None:
    if end is None:
        return None
    value = month(f"{what} end", end)
    if value < start:
        raise Reject(f"{what} ends ({value}) before it starts ({start}): swap the dates")
    return value


def _org_link(org_id: int | None) -> int | None:
    from . import orgs

    if org_id is not None and not orgs.exists(org_id):
        raise Reject(f"no organisation {org_id}: link an existing page or leave org_id null")
    return org_id


def _experience(entries: list[Experience]) -> list[Experience]:
    if len(entries) > limits.MAX_ENTRIES:
        raise Reject(f"a profile has at most {limits.MAX_ENTRIES} experience entries, "
                     f"got {len(entries)}")
    out = []
    for e in entries:
        start = month("an experience's start", e.start)
        out.append(Experience(
            title=bounded("a title", e.title, limits.MAX_ENTRY_TITLE_CHARS, required=True),
            organisation=bounded("an organisation", e.organisation,
                                 limits.MAX_ENTRY_TITLE_CHARS, required=True),
            org_id=_org_link(e.org_id), start=start, end=_end("an experience", start, e.end),
            description=bounded("a description", e.description,
                                limits.MAX_ENTRY_TEXT_CHARS, one_line=False),
        ))
    return out


def _education(entries: list[Education]) -> list[Education]:
    if len(entries) > limits.MAX_ENTRIES:
        raise Reject(f"a profile has at most {limits.MAX_ENTRIES} education entries, "
                     f"got {len(entries)}")
    out = []
    for e in entries:
        start = month("an education's start", e.start)
        out.append(Education(
            school=bounded("a school", e.school, limits.MAX_ENTRY_TITLE_CHARS, required=True),
            org_id=_org_link(e.org_id),
            degree=bounded("a degree", e.degree, limits.MAX_ENTRY_TITLE_CHARS),
            start=start, end=_end("an education", start, e.end),
            description=bounded("a description", e.description,
                                limits.MAX_ENTRY_TEXT_CHARS, one_line=False),
        ))
    return out


def _skills(skills: list[str]) -> list[str]:
    if len(skills) > limits.MAX_SKILLS:
        raise Reject(f"a profile has at most {limits.MAX_SKILLS} skills, got {len(skills)}")
    out: dict[str, str] = {}
    for s in skills:
        name = bounded("a skill", s, limits.MAX_SKILL_CHARS, required=True)
        out.setdefault(skill_key(name), name)
    return list(out.values())


def _apply(profile: Profile, data: ProfileInput) -> None:
    if len(data.links) > limits.MAX_LINKS:
        raise Reject(f"a profile has at most {limits.MAX_LINKS} links, got {len(data.links)}")
    profile.name = bounded("a name", data.name, limits.MAX_NAME_CHARS, required=True)
    profile.headline = bounded("a headline", data.headline, limits.MAX_HEADLINE_CHARS)
    profile.about = bounded("about", data.about, limits.MAX_ABOUT_CHARS, one_line=False)
    profile.location = bounded("a location", data.location, limits.MAX_LOCATION_CHARS)
    profile.links = list(dict.fromkeys(link(u) for u in data.links))
    profile.open_to_work = data.open_to_work


def _save(profile: Profile) -> None:
    profile.updated_at = ic.time()
    profiles[profile.user] = profile
    people.reindex(profile.user)


def _sync_members(user: Principal, before: Profile, after: Profile) -> None:
    """Keep ``org_members`` in step with the organisations linked from the entries."""
    def linked(p: Profile) -> set[int]:
        ids = {e.org_id for e in p.experience} | {e.org_id for e in p.education}
        return {i for i in ids if i is not None}

    old, new = linked(before), linked(after)
    for org_id in old - new:
        org_members.remove((org_id, user))
    for org_id in new - old:
        org_members[(org_id, user)] = True


def _copy(profile: Profile) -> Profile:
    return Profile(**{**profile.__dict__, "experience": list(profile.experience),
                      "education": list(profile.education), "skills": list(profile.skills)})


# -- methods --------------------------------------------------------------------------------

@update
def register(handle: str, data: ProfileInput) -> ProfileView:
    """Create the caller's profile. Handles are unique, 3–30 of ``a-z 0-9 _``, compared
    case-insensitively (stored lower-case), and cannot be changed later."""
    me = ic.caller()
    if me.is_anonymous:
        raise Reject("sign in first: the anonymous principal cannot register")
    if me in profiles:
        raise Reject("you are already registered: update_profile changes your profile")
    ratelimit.check(me, "profile")
    h = normalize_handle(handle)
    if h in handles:
        raise Reject(f"the handle @{h} is taken: choose another one")
    now = ic.time()
    profile = Profile(user=me, handle=h, name="", headline="", about="", location="",
                      links=[], open_to_work=False, avatar=None, banner=None, experience=[],
                      education=[], skills=[], created_at=now, updated_at=now)
    _apply(profile, data)
    handles[h] = me
    _save(profile)
    return view(profile, me)


@query
def handle_available(handle: str) -> bool:
    """Whether ``handle`` is valid and free (`register` says why when it is not valid)."""
    try:
        return normalize_handle(handle) not in handles
    except Reject:
        return False


@update
def update_profile(data: ProfileInput) -> ProfileView:
    """Replace the caller's name, headline, about, location, links and open-to-work flag."""
    me = ic.caller()
    profile = require_user(me)
    ratelimit.check(me, "profile")
    _apply(profile, data)
    _save(profile)
    return view(profile, me)


@update
def set_experience(entries: list[Experience]) -> ProfileView:
    """Replace the caller's experience entries (in the order given: newest first is
    customary); an entry's ``org_id`` links an organisation page."""
    me = ic.caller()
    profile = require_user(me)
    ratelimit.check(me, "profile")
    before = _copy(profile)
    profile.experience = _experience(list(entries))
    _sync_members(me, before, profile)
    _save(profile)
    return view(profile, me)


@update
def set_education(entries: list[Education]) -> ProfileView:
    """Replace the caller's education entries (in the order given)."""
    me = ic.caller()
    profile = require_user(me)
    ratelimit.check(me, "profile")
    before = _copy(profile)
    profile.education = _education(list(entries))
    _sync_members(me, before, profile)
    _save(profile)
    return view(profile, me)


@update
def set_skills(skills: list[str]) -> ProfileView:
    """Replace the caller's skills (in the order given; duplicates by case are merged);
    a skill removed loses its endorsements."""
    me = ic.caller()
    profile = require_user(me)
    ratelimit.check(me, "profile")
    new = _skills(list(skills))
    kept = {skill_key(s) for s in new}
    for old in profile.skills:
        if skill_key(old) not in kept:
            trust.drop_skill(me, old)
    profile.skills = new
    _save(profile)
    return view(profile, me)


@query
def me() -> ProfileView | None:
    """The caller's own profile, every section shown (null until they register)."""
    caller = ic.caller()
    profile = profiles.get(caller)
    return None if profile is None else view(profile, caller)


@query
def profile(who: str) -> ProfileView | None:
    """The profile of a handle (``@`` optional) or principal as the caller may see it;
    null if there is none or a block stands between them."""
    viewer = ic.caller()
    user = resolve(who)
    found = None if user is None else visible_to(user, viewer)
    return None if found is None else view(found, viewer)


@query
def people_cards(users: list[Principal]) -> list[PersonCard]:
    """Cards of up to 100 registered ``users`` (the others, and blocked ones, are left out)."""
    if len(users) > limits.MAX_USERS_PER_QUERY:
        raise Reject(f"ask for at most {limits.MAX_USERS_PER_QUERY} users at once, "
                     f"got {len(users)}")
    viewer = ic.caller()
    out = []
    for user in dict.fromkeys(users):
        found = visible_to(user, viewer)
        if found is not None:
            out.append(card(found, viewer))
    return out


# -- pictures -------------------------------------------------------------------------------

_PREFIX = {ImageKind.avatar: "/avatars/", ImageKind.banner: "/banners/"}


def _max_bytes(kind: ImageKind) -> int:
    return limits.MAX_AVATAR_BYTES if kind is ImageKind.avatar else limits.MAX_BANNER_BYTES


@update
def begin_profile_image(kind: ImageKind, content_type: str, size: nat32) -> nat64:
    """Start uploading an avatar or banner of ``size`` bytes; returns the upload id (an
    unfinished upload of the same kind is dropped). Send the bytes with
    `upload_profile_image_chunk`, then `commit_profile_image`."""
    me = ic.caller()
    require_user(me)
    ratelimit.check(me, "image")
    if content_type not in limits.IMAGE_TYPES:
        raise Reject(f"pictures are {', '.join(limits.IMAGE_TYPES)}, not {content_type[:60]!r}")
    most = _max_bytes(kind)
    if not 0 < size <= most:
        what = "an avatar" if kind is ImageKind.avatar else "a banner"
        raise Reject(f"{what} is 1 to {most} bytes, got {size}: make it smaller")
    earlier = open_uploads.get((me, kind.value))
    if earlier is not None:
        uploads.discard(earlier)
    image_id = next_id("next_image")
    uploads.begin(image_id, me, content_type, size)
    open_uploads[(me, kind.value)] = image_id
    return image_id


@update
def upload_profile_image_chunk(upload_id: nat64, index: nat32, data: bytes) -> nat32:
    """Store chunk ``index`` (every chunk but the last is exactly 512 KiB); returns the
    bytes received so far."""
    return uploads.receive(upload_id, ic.caller(), index, data)


@update
def commit_profile_image(upload_id: nat64) -> ProfileView:
    """Finish an upload once every chunk is in: it becomes the caller's avatar or
    banner (the previous one is deleted)."""
    me = ic.caller()
    profile = require_user(me)
    upload, sha256 = uploads.commit(upload_id, me)
    # The upload's kind: each user's one open upload per kind is ``open_uploads``.
    kind = next(k for k in ImageKind if open_uploads.get((me, k.value)) == upload_id)
    images[upload_id] = ImageMeta(me, kind, upload.content_type, upload.size,
                                  upload.chunks, sha256)
    path = f"{_PREFIX[kind]}{upload_id}"
    if kind is ImageKind.avatar:
        _drop_image(profile.avatar)
        profile.avatar = path
    else:
        _drop_image(profile.banner)
        profile.banner = path
    _save(profile)
    return view(profile, me)


@update
def remove_profile_image(kind: ImageKind) -> ProfileView:
    """Delete the caller's avatar or banner."""
    me = ic.caller()
    profile = require_user(me)
    if kind is ImageKind.avatar:
        _drop_image(profile.avatar)
        profile.avatar = None
    else:
        _drop_image(profile.banner)
        profile.banner = None
    _save(profile)
    return view(profile, me)


def _drop_image(path: str | None) -> None:
    if path is None:
        return
    image_id = int(path.rsplit("/", 1)[1])
    meta = images.remove(image_id)
    if meta is not None:
        uploads.delete(image_id, meta.chunks)


def image(kind: ImageKind, image_id: int) -> tuple[ImageMeta, bytes] | None:
    """A committed picture of ``kind`` and its bytes, or None (for the gateway)."""
    meta = images.get(image_id)
    if meta is None or meta.kind is not kind:
        return None
    return meta, uploads.content(image_id, meta.chunks)
