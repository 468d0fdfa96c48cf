"""The social canister's public records (identity, graph, trust, organisations, jobs, safety).

These dataclasses and enums are the Candid interface (apps/social/social.did is
generated from them). Texts are plain text: the page shows them with ``textContent``.
Times are nanoseconds since the epoch (``ic.time()``); months are ``YYYY-MM`` text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from icframework.sdk import Field, Model, Principal, nat8, nat32, nat64
from icframework.sdk import HttpRequest as HttpRequest  # the gateway's records, for clients
from icframework.sdk import HttpResponse as HttpResponse


@dataclass
class InitArgs:
    """``@init``/``@post_upgrade`` argument: the moderators who see the report queue
    (replaced only when given at an upgrade)."""

    admins: list[Principal]


# -- identity and profile -------------------------------------------------------------------

@dataclass
class Experience:
    """A position held: ``end`` null means "present"; ``org_id`` links an organisation page."""

    title: str
    organisation: str
    org_id: nat64 | None
    start: str
    end: str | None
    description: str


@dataclass
class Education:
    school: str
    org_id: nat64 | None
    degree: str
    start: str
    end: str | None
    description: str


@dataclass
class ProfileInput:
    """The editable fields of a profile (the handle is chosen once, at `register`)."""

    name: str
    headline: str
    about: str
    location: str
    links: list[str]
    open_to_work: bool


@dataclass
class Profile:
    """A stored profile. ``avatar``/``banner`` are URL paths served by ``http_request``."""

    user: Principal
    handle: str
    name: str
    headline: str
    about: str
    location: str
    links: list[str]
    open_to_work: bool
    avatar: str | None
    banner: str | None
    experience: list[Experience]
    education: list[Education]
    skills: list[str]
    created_at: nat64
    updated_at: nat64


class ImageKind(Enum):
    avatar = "avatar"
    banner = "banner"


class Visibility(Enum):
    """Who sees a profile section: everyone, or the owner's 1st-degree connections."""

    public = "public"
    connections = "connections"


class RequestPolicy(Enum):
    """Who may send the user a connection request: ``everyone``, ``mutuals`` (people
    with a connection in common: 2nd degree) or ``nobody``."""

    everyone = "everyone"
    mutuals = "mutuals"
    nobody = "nobody"


@dataclass
class Privacy:
    """Visibility of each profile section, and who may send requests. Name, handle,
    headline, location, pictures and the open-to-work flag are always public."""

    about: Visibility = Visibility.public
    links: Visibility = Visibility.public
    experience: Visibility = Visibility.public
    education: Visibility = Visibility.public
    skills: Visibility = Visibility.public
    connections: Visibility = Visibility.public
    posts: Visibility = Visibility.public
    requests: RequestPolicy = RequestPolicy.everyone


class Relation(Enum):
    """The viewer's relation to a profile (``own``: it is the viewer's)."""

    own = "own"
    connected = "connected"
    request_sent = "request_sent"
    request_received = "request_received"
    none = "none"


@dataclass
class SkillView:
    name: str
    endorsements: nat32
    endorsed_by_me: bool


@dataclass
class PersonCard:
    """What lists show of a person: always-public fields and the viewer's degree (0
    self, 1, 2, 3 meaning 3rd or more)."""

    user: Principal
    handle: str
    name: str
    headline: str
    avatar: str | None
    degree: nat8


@dataclass
class ProfileView:
    """A profile as ``viewer`` may see it: a section is null when its visibility hides it."""

    user: Principal
    handle: str
    name: str
    headline: str
    location: str
    avatar: str | None
    banner: str | None
    open_to_work: bool
    about: str | None
    links: list[str] | None
    experience: list[Experience] | None
    education: list[Education] | None
    skills: list[SkillView] | None
    connection_count: nat32 | None
    follower_count: nat32
    following_count: nat32
    degree: nat8
    mutual_count: nat32
    relation: Relation
    following: bool
    can_request: bool
    created_at: nat64


# -- graph ----------------------------------------------------------------------------------

@dataclass
class ConnectionRequest:
    user: PersonCard
    note: str
    sent_at: nat64


@dataclass
class PersonPage:
    """One page of people; pass ``next`` back as the cursor (null: the end)."""

    people: list[PersonCard]
    next: str | None


# -- trust ----------------------------------------------------------------------------------

class RecommendationStatus(Enum):
    """``requested`` (the subject asked the author) → ``pending`` (written, waiting for
    the subject) → ``accepted`` (shown on the profile) or ``declined`` (hidden)."""

    requested = "requested"
    pending = "pending"
    accepted = "accepted"
    declined = "declined"


class Recommendation(Model):
    author: Principal = Field(index=True)
    subject: Principal = Field(index=True)
    relationship: str
    text: str
    request_note: str
    status: RecommendationStatus
    created_at: nat64
    updated_at: nat64

    class Meta:
        table = "recommendations"

    if TYPE_CHECKING:
        id: nat64  # the automatic primary key


@dataclass
class RecommendationView:
    id: nat64
    author: PersonCard
    subject: PersonCard
    relationship: str
    text: str
    request_note: str
    status: RecommendationStatus
    updated_at: nat64


@dataclass
class Attestation:
    """An organisation's statement that ``member`` held ``title`` from ``start`` to
    ``end`` (null: still does), made by one of its admins; certified (see `trust`)."""

    id: nat64
    org_id: nat64
    org_name: str
    member: Principal
    title: str
    start: str
    end: str | None
    attested_by: Principal
    attested_at: nat64


@dataclass
class CertifiedAttestation:
    """An attestation with its proof: its leaf hash, the leaves of its bucket, the
    256 bucket hashes and the replica's data certificate (null in an update call)."""

    attestation: Attestation
    leaf: bytes
    bucket: list[bytes]
    buckets: list[bytes]
    certificate: bytes | None


# -- organisations and jobs -----------------------------------------------------------------

class OrgKind(Enum):
    company = "company"
    school = "school"


@dataclass
class OrgInput:
    name: str
    kind: OrgKind
    about: str
    website: str
    location: str


class Org(Model):
    handle: str = Field(unique=True)
    name: str
    kind: OrgKind
    about: str
    website: str
    location: str
    created_by: Principal
    created_at: nat64
    follower_count: nat32 = 0
    admin_count: nat32 = 0
    open_jobs: nat32 = 0

    class Meta:
        table = "orgs"

    if TYPE_CHECKING:
        id: nat64  # the automatic primary key


@dataclass
class OrgView:
    org: Org
    is_admin: bool
    following: bool


class Workplace(Enum):
    onsite = "onsite"
    hybrid = "hybrid"
    remote = "remote"


class Seniority(Enum):
    intern = "intern"
    entry = "entry"
    mid = "mid"
    senior = "senior"
    lead = "lead"
    executive = "executive"


@dataclass
class Salary:
    """A yearly range in whole units of ``currency`` (an ISO code such as EUR)."""

    min: nat64
    max: nat64
    currency: str


@dataclass
class JobInput:
    title: str
    description: str
    location: str
    workplace: Workplace
    seniority: Seniority
    skills: list[str]
    salary: Salary | None


class Job(Model):
    org_id: nat64 = Field(index=True)
    posted_by: Principal
    title: str
    description: str
    location: str
    workplace: Workplace
    seniority: Seniority
    skills: list[str]
    salary: Salary | None
    open: bool
    created_at: nat64
    updated_at: nat64
    applicant_count: nat32 = 0

    class Meta:
        table = "jobs"

    if TYPE_CHECKING:
        id: nat64  # the automatic primary key


@dataclass
class JobView:
    job: Job
    org_name: str
    applied: bool
    can_manage: bool


@dataclass
class JobQuery:
    """Every given filter must hold; ``words`` match the title, description, location,
    skills and organisation name (all words must match)."""

    words: str
    org_id: nat64 | None
    workplace: Workplace | None
    seniority: Seniority | None
    skill: str | None
    min_salary: nat64 | None
    include_closed: bool


@dataclass
class JobPage:
    jobs: list[JobView]
    next: str | None


class Stage(Enum):
    applied = "applied"
    reviewing = "reviewing"
    interview = "interview"
    offer = "offer"
    rejected = "rejected"
    withdrawn = "withdrawn"


class Application(Model):
    job_id: nat64 = Field(index=True)
    applicant: Principal = Field(index=True)
    note: str
    stage: Stage
    created_at: nat64
    updated_at: nat64

    class Meta:
        table = "applications"

    if TYPE_CHECKING:
        id: nat64  # the automatic primary key


@dataclass
class ApplicationView:
    """An application: the applicant sees their own, the job's organisation admins all."""

    id: nat64
    job_id: nat64
    job_title: str
    org_name: str
    applicant: PersonCard
    note: str
    stage: Stage
    created_at: nat64
    updated_at: nat64


# -- people you may know --------------------------------------------------------------------

@dataclass
class Suggestion:
    """A person you may know and why: ``score = 10 × mutual + 5 × shared_orgs +
    2 × shared_skills``."""

    person: PersonCard
    mutual: nat32
    shared_orgs: nat32
    shared_skills: nat32
    score: nat32


# -- safety ---------------------------------------------------------------------------------

class ReportStatus(Enum):
    open = "open"
    resolved = "resolved"
    dismissed = "dismissed"


class Report(Model):
    """A report of ``kind`` (user, post, comment, org, job, recommendation) about
    ``target_id`` (a principal's text or a number)."""

    kind: str
    target_id: str
    reporter: Principal
    reason: str
    status: ReportStatus
    queue: str = Field(index=True)  # the status's name: the moderators' queues
    created_at: nat64
    resolved_by: Principal | None = None
    note: str = ""

    class Meta:
        table = "reports"

    if TYPE_CHECKING:
        id: nat64  # the automatic primary key


@dataclass
class ReportPage:
    reports: list[Report]
    next: str | None

