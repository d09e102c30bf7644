"""Tests of contacts: engagement and identity."""
