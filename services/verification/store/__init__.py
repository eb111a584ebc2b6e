"""Verification's store."""
