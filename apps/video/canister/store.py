"""Placeholder of the video canister's `store` module (see apps/video/canister/__init__.py)."""
