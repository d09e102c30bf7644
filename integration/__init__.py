"""storepulse: one store of a merchant's customers, orders, checkouts and interactions."""

__version__ = "0.1.0"
