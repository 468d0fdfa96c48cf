"""Placeholder of the video canister's `ranking` module (see apps/video/canister/__init__.py)."""
