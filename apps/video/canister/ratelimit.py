"""Placeholder of the video canister's `ratelimit` module (see apps/video/canister/__init__.py)."""
