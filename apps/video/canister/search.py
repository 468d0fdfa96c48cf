"""Placeholder of the video canister's `search` module (see apps/video/canister/__init__.py)."""
