"""Verification's domain."""
