"""Orders' HTTP surface."""
