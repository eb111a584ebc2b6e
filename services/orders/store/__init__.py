"""Orders' tables and the queries over them."""
