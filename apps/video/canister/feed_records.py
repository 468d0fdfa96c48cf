"""Placeholder of the video canister's `feed_records` module (see apps/video/canister/__init__.py)."""
