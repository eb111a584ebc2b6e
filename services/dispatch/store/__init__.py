"""Dispatch's tables and the queries over them."""
