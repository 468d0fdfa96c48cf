"""Placeholder of the video canister's `interactions` module (see apps/video/canister/__init__.py)."""
