"""Every limit and rate limit of the video canister, in one place."""

from __future__ import annotations

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# -- media ---------------------------------------------------------------------------------
CHUNK_BYTES = 1024 * 1024
"""Every chunk of an upload, of an original and of a rendition but the last is exactly
this long; the gateway streams renditions in chunks of this size too."""
MAX_VIDEO_BYTES = 32 * 1024 * 1024
"""The largest original a user may upload (32 chunks). Chunks sent in order are hashed
as they arrive (88 M instructions per 1 MiB chunk, then ``finish_upload`` costs 5 M),
but out of order, or after the instance was rebuilt, ``finish_upload`` hashes the whole
file in one message: about 82 instructions per byte in the canister's CPython (2.6 B
for 32 MiB on the replica), so 64 MiB could pass the 5 B limit of a message."""
MAX_RENDITIONS_BYTES = 32 * 1024 * 1024
"""The renditions of one video together, for the same reason (``worker_complete``
checks all their SHA-256s in one message)."""
MAX_CAPTION_CHARS = 300
MAX_OPEN_UPLOADS = 5
"""Unfinished uploads per user; finish or delete one to begin another."""
UPLOAD_TTL_NS = DAY
"""An upload with no chunk for this long is dropped with its chunks."""
EXPIRE_BATCH = 20
"""Expired uploads one timer run drops (the rest go in the next run)."""
UPLOADS_PER_HOUR = 30
"""``begin_upload`` calls (new uploads and resumes) per user per sliding hour."""
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm", "video/x-matroska",
               "video/x-msvideo", "video/ogg", "application/octet-stream")
"""Content types an upload may announce besides any other ``video/...``: the announced
type is not trusted, ``finish_upload`` sniffs the container from the first bytes."""
RENDITION_TYPES = {"r720": ("video/mp4", "video/webm"), "r360": ("video/mp4", "video/webm"),
                   "poster": ("image/jpeg", "image/png", "image/webp")}
"""Content types a worker may store per rendition kind."""
MAX_ATTEMPTS = 3
"""Claims of one processing video; when the last one's lease ends unfinished, the video
is rejected ("processing failed 3 times")."""
CLAIM_LEASE_NS = 30 * MINUTE
"""How long a claim keeps a job from other workers (the same worker may claim again)."""
MAX_DURATION_MS = 10 * 60 * 1000
MAX_DIMENSION = 8192
MAX_JOBS_LISTED = 100
MAX_MY_VIDEOS = 500

# -- social --------------------------------------------------------------------------------
# Sizes are characters (code points) after cleaning; times are nanoseconds.
HANDLE_MIN_CHARS = 3
HANDLE_MAX_CHARS = 30
MAX_NAME_CHARS = 50
MAX_BIO_CHARS = 200
MAX_COMMENT_CHARS = 500
MAX_REASON_CHARS = 500
"""A report's reason and a moderator's note."""
MAX_FOLLOWING = 5_000
"""People one user may follow; `follows.following_of` never returns more."""
MAX_REPLIES = 500
"""Replies under one comment (a root comment and its replies go in one message)."""
COMMENT_LIKES_DROPPED = 1_000
"""Likes of a deleted comment removed with it (the rest stay unreachable)."""
FORGET_BATCH = 500
"""Entries (likes, shares, comments, comment likes, reports) of a deleted video one
message removes; the rest go in timer runs of the same size."""
SUPER_LIKES_PER_DAY = 3
"""Super-likes per user in any rolling 24 h window."""
SUPER_LIKE_WINDOW = DAY
VIEW_DEDUP_WINDOW = HOUR
"""One counted view per user and video in this window; reports within it update the
same view's watch time."""
COMPLETION_PERCENT = 90
"""A view whose watch time reaches this share of the duration is a completion."""
AUTO_HIDE_REPORTS = 3
"""Distinct reporters that hide a video until a moderator decides."""
MIN_TIP = 1
MAX_TIP = 10**18
"""Token units (the ledger's smallest unit)."""
RECENT_TIPS = 50
"""Tips `tips_received` lists (newest first)."""
MAX_NOTIFICATIONS = 300
"""Notifications kept per user; the oldest go first."""
NOTIFICATION_TEXT_CHARS = 140
PAGE_SIZE = 30
"""Items per page of followers, following, comments, replies, notifications, reports."""
RATE_LIMITS: dict[str, tuple[int, int, str]] = {
    # action: (count, sliding window, what is counted)
    "profile": (30, MINUTE, "profile edits"),
    "follow": (60, MINUTE, "follows, unfollows and blocks"),
    "like": (120, MINUTE, "likes and unlikes of videos and comments"),
    "comment": (20, MINUTE, "comments"),
    "view": (600, MINUTE, "view reports"),
    "share": (60, MINUTE, "shares"),
    "tip": (20, MINUTE, "tips"),
    "report": (20, HOUR, "reports"),
    "moderate": (600, MINUTE, "moderation decisions"),
    "notifications": (120, MINUTE, "notification updates"),
    "upload": (30, HOUR, "new uploads"),
    "edit": (60, MINUTE, "caption and sensitivity edits and deletes"),
}
"""Every per-user rate limit by action (`ratelimit.check` takes the name)."""


# -- feed ----------------------------------------------------------------------------------
MAX_FEED_PAGE = 30
"""Cards per page of every feed (For You, Following, a creator's, a hashtag's)."""
NEWEST_POOL = 100
"""For You candidates from the newest videos."""
POPULAR_DAYS = 7
POPULAR_PER_DAY = 20
"""For You candidates from the popularity buckets: the most engaging of each recent day."""
FOLLOWED_POOL = 60
"""For You candidates from followed creators: the newest of the Following feed."""
FOLLOWING_FEED_SOURCES = 300
"""Followed creators the Following feed merges (the first ones, by principal)."""
MAX_PAGE_SCAN = 300
"""Index entries one page of a list (Following, creator, hashtag) examines; when a page
stops there, its ``next`` continues."""
MAX_SESSION = 600
"""Videos one For You session (a chain of cursors) remembers as shown; then it ends."""
MAX_HASHTAGS = 10
"""Hashtags indexed per caption (``#[a-z0-9_]{1,30}``, case-folded)."""
MAX_MENTIONS = 10
"""``@handles`` notified per caption."""
MIN_TERM_CHARS = 2
MAX_TERM_CHARS = 40
MAX_INDEXED_TERMS = 60
"""Search words indexed per video and per person."""
MAX_QUERY_WORDS = 6
MAX_SEARCH_RESULTS = 20
MAX_SEARCH_SCAN = 400
"""Postings one search examines per kind (videos, people, hashtags)."""
MAX_TRENDING = 50
