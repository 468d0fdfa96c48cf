"""Placeholder of the video canister's `social_records` module (see apps/video/canister/__init__.py)."""
