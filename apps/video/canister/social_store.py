"""Placeholder of the video canister's `social_store` module (see apps/video/canister/__init__.py)."""
