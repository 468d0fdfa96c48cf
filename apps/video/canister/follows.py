"""Placeholder of the video canister's `follows` module (see apps/video/canister/__init__.py)."""
