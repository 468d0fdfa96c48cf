"""Placeholder of the video canister's `media` module (see apps/video/canister/__init__.py)."""
