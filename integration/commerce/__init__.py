"""Orders, carts and each buyer's totals: which orders count, abandoned and recovered carts."""
