"""The video canister's shared records: videos, their renditions, uploads and worker jobs.

These dataclasses and enums are the Candid interface (apps/video/video.did is generated
from them). Texts are plain text: the page shows them with ``textContent``. Times are
nanoseconds since the epoch (``ic.time()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from icframework.sdk import HttpRequest as HttpRequest  # the gateway's records, for clients
from icframework.sdk import HttpResponse as HttpResponse
from icframework.sdk import Principal, nat32, nat64


@dataclass
class InitArgs:
    """``@init``/``@post_upgrade`` argument: moderators, the transcoding workers' principals
    and the ICRC-1/2 ledger tips are paid in."""

    admins: list[Principal]
    workers: list[Principal]
    ledger: Principal | None


class VideoStatus(Enum):
    uploading = "uploading"
    processing = "processing"
    ready = "ready"
    rejected = "rejected"


class RenditionKind(Enum):
    r720 = "r720"
    r360 = "r360"
    poster = "poster"


@dataclass
class Rendition:
    """One stored file of a ready video, served at ``path`` on the canister's origin."""

    kind: RenditionKind
    path: str
    content_type: str
    size: nat64
    width: nat32
    height: nat32
    sha256: bytes


@dataclass
class Video:
    id: nat64
    creator: Principal
    caption: str
    status: VideoStatus
    reason: str | None
    created_at: nat64
    ready_at: nat64 | None
    size: nat64
    sha256: bytes
    duration_ms: nat32
    width: nat32
    height: nat32
    renditions: list[Rendition]
    sensitive: bool
