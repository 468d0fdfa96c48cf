"""Placeholder of the video canister's `tips` module (see apps/video/canister/__init__.py)."""
