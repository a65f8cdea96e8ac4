"""One store per concern; each function takes an open Connection (the caller owns the transaction)."""
