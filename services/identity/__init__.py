"""Identity: accounts, sign-in, the CQC register copy used for it, and signed tokens."""
