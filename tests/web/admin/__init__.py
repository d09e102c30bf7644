"""Tests of the merchant's admin pages."""
