"""Placeholder of the video canister's `cards` module (see apps/video/canister/__init__.py)."""
