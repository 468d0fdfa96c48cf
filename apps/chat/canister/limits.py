"""The chat canister's limits and rate limits: every number a client may run into.

Sizes are in characters (Python ``str`` length, i.e. code points) after stripping
surrounding whitespace; times are nanoseconds (``ic.time()``). docs/chat.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

# -- users --------------------------------------------------------------------------------
HANDLE_MIN_CHARS = 3
HANDLE_MAX_CHARS = 20
MAX_DISPLAY_NAME_CHARS = 50
MAX_BIO_CHARS = 500
MAX_USERS_PER_QUERY = 200
"""`profiles` and `presence` answer for at most this many users."""
ONLINE_WINDOW_NS = 2 * MINUTE
"""A user is online if they called `ping` within this window (clients ping every minute)."""

# -- rooms --------------------------------------------------------------------------------
MAX_ROOM_NAME_CHARS = 80
MAX_DESCRIPTION_CHARS = 1_000
MAX_MEMBERS = 10_000
MAX_ROOMS_PER_USER = 1_000
MAX_ADD_MEMBERS = 50
"""`add_members` adds at most this many users per call."""
MAX_INVITES_PER_ROOM = 50
"""Live (not revoked) invite links per room."""
MAX_PINS = 50

# -- messages -----------------------------------------------------------------------------
MAX_TEXT_CHARS = 10_000
MAX_EMOJI_CHARS = 40
MAX_DISTINCT_REACTIONS = 20
"""Different emoji on one message."""
REACTION_SAMPLE = 10
"""How many reacting users a reaction view lists (the count is exact)."""
MAX_MENTIONS = 20
"""Distinct @mentions resolved (and notified) per message."""
EXCERPT_CHARS = 120
"""Length of quoted excerpts (replies, mentions, reports)."""
MAX_REASON_CHARS = 1_000

# -- reading ------------------------------------------------------------------------------
MAX_HISTORY_PAGE = 100
MAX_HISTORY_SCAN = 2_000
"""Stored messages one `history` call examines (thread replies are skipped there)."""
DEFAULT_PAGE = 50
MAX_CHANGES_PAGE = 200
UNREAD_CAP = 100
"""Unread counts stop counting here: 100 means "100 or more"."""
MAX_PUBLIC_ROOMS_PAGE = 100
MAX_MEMBERS_PAGE = 500
MAX_REPORTS_PAGE = 200

# -- search -------------------------------------------------------------------------------
MIN_TOKEN_CHARS = 2
MAX_TOKEN_CHARS = 40
MAX_INDEXED_TOKENS = 256
"""Distinct words of one message that go into the search index."""
MAX_QUERY_TOKENS = 8
MAX_SEARCH_RESULTS = 50
MAX_SEARCH_SCAN = 5_000
"""Index entries one search may examine (bounds its cost)."""


# -- threads, receipts, scheduled messages, end-to-end encryption -------------------------
MAX_THREAD_PAGE = 100
"""Replies one `thread` page returns."""
MAX_THREADS_LISTED = 100
"""Threads `my_threads` returns (most recently active first)."""
RECEIPT_SAMPLE = 50
"""Users a `receipts` answer names for "delivered" and for "read" (the counts go on)."""
RECEIPT_COUNT_CAP = 1_000
"""Receipt counts stop counting here: a `receipts` call examines at most this many
index entries per list, whatever the room's size."""
RECEIPT_LIVE_MEMBERS = 50
"""Rooms up to this size publish every member's ``delivered`` marker live; larger rooms
publish only ``read`` (clients ask `receipts` when a message is opened)."""
MAX_SCHEDULED_PER_USER = 50
"""Pending scheduled messages one user may have."""
MAX_SCHEDULE_AHEAD_NS = 366 * 24 * HOUR
"""How far ahead a message may be scheduled."""
SCHEDULED_BATCH = 100
"""Scheduled messages one timer run posts (the rest run in the next)."""
E2E_NONCE_BYTES = 12
MAX_SEALED_BYTES = 4 * MAX_TEXT_CHARS + 64
"""Ciphertext of an end-to-end-encrypted body: UTF-8 of the longest text plus the tag."""


# -- attachments, polls, disappearing messages --------------------------------------------
MIB = 1024 * 1024
ATTACHMENT_CHUNK_BYTES = MIB
"""Every chunk of an attachment upload is this long but the last (1 MiB, in bytes)."""
MAX_ATTACHMENT_BYTES = {"image": 10 * MIB, "video": 64 * MIB, "audio": 20 * MIB,
                        "file": 20 * MIB}
"""The largest attachment of each kind, in bytes."""
MAX_ATTACHMENTS_PER_MESSAGE = 10
MAX_OPEN_ATTACHMENTS = 20
"""Attachments one user may have uploaded or be uploading but not yet sent."""
UNSENT_ATTACHMENT_TTL_NS = HOUR
"""An attachment not sent within this time after `begin_attachment` is dropped."""
MAX_FILE_NAME_CHARS = 200
MAX_POLL_OPTIONS = 10
MAX_POLL_OPTION_CHARS = 100
MAX_POLL_QUESTION_CHARS = 300
MAX_POLL_DURATION_NS = 30 * 24 * HOUR
POLL_VOTER_SAMPLE = 20
"""Voters a poll option lists (when the poll is not anonymous; the count is exact)."""
MIN_ROOM_TTL_NS = 10 * SECOND
MAX_ROOM_TTL_NS = 30 * 24 * HOUR
"""Bounds of a room's disappearing-message time-to-live."""
EXPIRE_BATCH = 200
"""Expired messages one timer run erases (the rest go in the next run, at once)."""


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


MESSAGE_RATE = RateLimit("message", 20, 10 * SECOND, "messages (sends, edits, deletes)")
REACTION_RATE = RateLimit("reaction", 30, 10 * SECOND, "reactions")
ROOM_RATE = RateLimit("room", 5, MINUTE, "new rooms (groups and direct conversations)")
TYPING_RATE = RateLimit("typing", 1, 2 * SECOND, "typing notices")
REPORT_RATE = RateLimit("report", 10, HOUR, "reports")
JOIN_RATE = RateLimit("join", 10, MINUTE, "joins")
INVITE_RATE = RateLimit("invite", 20, MINUTE, "invite links")
E2E_KEY_RATE = RateLimit("e2e_key", 10, MINUTE, "end-to-end key requests")
ATTACHMENT_RATE = RateLimit("attachment", 30, MINUTE, "attachment uploads")
VOTE_RATE = RateLimit("vote", 20, 10 * SECOND, "poll votes")

RATE_LIMITS = (
    MESSAGE_RATE, REACTION_RATE, ROOM_RATE, TYPING_RATE, REPORT_RATE, JOIN_RATE, INVITE_RATE,
    E2E_KEY_RATE,
    ATTACHMENT_RATE, VOTE_RATE,
)
