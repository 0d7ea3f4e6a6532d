"""Tests of hub.console."""
