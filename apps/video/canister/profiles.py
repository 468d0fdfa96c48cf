"""Placeholder of the video canister's `profiles` module (see apps/video/canister/__init__.py)."""
