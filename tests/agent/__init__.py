"""Tests of icframework.agent."""
