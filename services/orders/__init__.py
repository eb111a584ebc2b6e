"""Orders: the public ordering site and API, orders and their status history."""
