"""Tests of operations: logs and metrics."""
