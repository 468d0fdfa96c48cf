"""Placeholder of the video canister's `worker_api` module (see apps/video/canister/__init__.py)."""
