"""Receivers of platform deliveries: verify the raw body, store it in the inbox, enqueue, answer.

Each receiver is a Flask blueprint that does exactly those four things and holds no domain logic;
signature checks are pure functions, unit-tested without Flask.
"""
