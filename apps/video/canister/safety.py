"""Placeholder of the video canister's `safety` module (see apps/video/canister/__init__.py)."""
