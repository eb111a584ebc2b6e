"""Orders' rules, free of I/O."""
