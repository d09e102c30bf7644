"""Tests of the web wing."""
