"""Placeholder of the video canister's `gateway` module (see apps/video/canister/__init__.py)."""
