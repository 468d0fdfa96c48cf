"""Placeholder of the video canister's `notifications` module (see apps/video/canister/__init__.py)."""
