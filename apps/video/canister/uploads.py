"""Placeholder of the video canister's `uploads` module (see apps/video/canister/__init__.py)."""
