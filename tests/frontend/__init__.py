"""Tests of the browser bundle (icframework/frontend/): build, socket client, .did reader."""
