"""Tests of the HTTP gateway (`icframework.replica.gateway` and its Django middleware)."""
