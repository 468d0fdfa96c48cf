"""Placeholder of the video canister's `feeds` module (see apps/video/canister/__init__.py)."""
