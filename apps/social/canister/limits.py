"""The social canister's limits and rate limits: every number a client may run into.

Sizes are in characters (Python ``str`` length, i.e. code points) after `text.clean`;
image sizes in bytes; times in nanoseconds (``ic.time()``). docs/social.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# -- profiles -----------------------------------------------------------------------------
HANDLE_MIN_CHARS = 3
HANDLE_MAX_CHARS = 30
MAX_NAME_CHARS = 80
MAX_HEADLINE_CHARS = 220
MAX_ABOUT_CHARS = 2_600
MAX_LOCATION_CHARS = 100
MAX_LINKS = 5
MAX_LINK_CHARS = 300
MAX_ENTRIES = 30
"""Experience entries, and education entries, per profile."""
MAX_ENTRY_TITLE_CHARS = 100
MAX_ENTRY_TEXT_CHARS = 2_000
MAX_SKILLS = 50
MAX_SKILL_CHARS = 40
MAX_USERS_PER_QUERY = 100
"""`profiles_of` answers for at most this many users."""

# -- images -------------------------------------------------------------------------------
CHUNK_BYTES = 512 * 1024
"""Every chunk of an upload but the last is exactly this long."""
MAX_AVATAR_BYTES = 1024 * 1024
MAX_BANNER_BYTES = 2 * 1024 * 1024
"""One ``http_request`` answer (no streaming), so an image fits one reply."""
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")

# -- graph --------------------------------------------------------------------------------
MAX_NOTE_CHARS = 300
"""The note of a connection request."""
MAX_CONNECTIONS = 5_000
MAX_PENDING_REQUESTS = 200
"""Outgoing requests waiting for an answer, per user."""
MAX_FOLLOWING = 5_000
MAX_DEGREE_SCAN = 5_000
"""Connections examined to tell a 2nd degree (and to count mutual connections)."""
MAX_PAGE = 100
DEFAULT_PAGE = 30

# -- trust --------------------------------------------------------------------------------
MAX_RECOMMENDATION_CHARS = 3_000
MAX_RELATIONSHIP_CHARS = 120
MAX_ENDORSERS_SHOWN = 50

# -- organisations and jobs ---------------------------------------------------------------
MAX_ORG_NAME_CHARS = 100
MAX_ORG_ABOUT_CHARS = 2_000
MAX_ADMINS = 20
MAX_JOB_TITLE_CHARS = 120
MAX_JOB_TEXT_CHARS = 10_000
MAX_JOB_SKILLS = 20
MAX_APPLICATION_NOTE_CHARS = 2_000

# -- search and people you may know -------------------------------------------------------
MIN_TOKEN_CHARS = 2
MAX_TOKEN_CHARS = 40
MAX_INDEXED_TOKENS = 200
MAX_QUERY_TOKENS = 8
MAX_SEARCH_RESULTS = 50
MAX_SEARCH_SCAN = 5_000
"""Index entries one search may examine (bounds its cost)."""
PYMK_FRIENDS = 50
"""Most recent connections whose connections are read for people you may know."""
PYMK_FANOUT = 50
"""Connections read from each of them."""
PYMK_PER_SHARED = 30
"""People read per shared organisation and per shared skill."""
PYMK_RESULTS = 20

# -- deleting posts -----------------------------------------------------------------------
DELETE_BATCH = 500
"""Entries (reactions, comments and their index entries, comment reactions, reaction
notes) one message removes of a deleted post or comment; the rest go in later
messages (`posts.cleanup_step`). A removal costs well under 1 M instructions (a whole
`add_comment` with its notifications is 2.7 M), so a batch stays below a tenth of a
message's 5 B limit, and a post with 100,000 reactions is gone in 200 messages."""

# -- safety -------------------------------------------------------------------------------
MAX_REASON_CHARS = 1_000
MAX_REPORTS_PAGE = 100


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` actions per sliding ``window_ns``, per user."""

    name: str
    count: int
    window_ns: int
    what: str

    def describe(self) -> str:
        seconds = self.window_ns / SECOND
        shown = f"{seconds:g} s" if seconds < 60 else (
            f"{seconds / 60:g} min" if seconds < 3600 else f"{seconds / 3600:g} h"
        )
        return f"{self.count} {self.what} per {shown}"


RATE_LIMITS = {limit.name: limit for limit in (
    RateLimit("profile", 30, MINUTE, "profile edits"),
    RateLimit("image", 20, MINUTE, "image uploads"),
    RateLimit("request", 20, HOUR, "connection requests"),
    RateLimit("graph", 60, MINUTE, "follows, accepts, removals and blocks"),
    RateLimit("endorse", 60, MINUTE, "endorsements"),
    RateLimit("recommend", 10, HOUR, "recommendations and requests for one"),
    RateLimit("org", 10, HOUR, "new organisations"),
    RateLimit("attest", 60, HOUR, "attestations"),
    RateLimit("job", 20, HOUR, "job postings and edits"),
    RateLimit("apply", 20, HOUR, "job applications"),
    RateLimit("stage", 120, MINUTE, "applicant stage changes"),
    RateLimit("report", 10, HOUR, "reports"),
    RateLimit("post", 10, MINUTE, "posts (new, edited or reposted)"),
    RateLimit("comment", 30, MINUTE, "comments"),
    RateLimit("reaction", 60, MINUTE, "reactions"),
    RateLimit("group", 10, HOUR, "new groups and events"),
    RateLimit("join", 30, MINUTE, "group joins and RSVPs"),
)}
"""Every per-user limit by action name (`ratelimit.check` takes the name)."""
