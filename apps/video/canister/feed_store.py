"""Placeholder of the video canister's `feed_store` module (see apps/video/canister/__init__.py)."""
