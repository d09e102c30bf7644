"""Tests of orders, carts and totals."""
