"""Verification's handlers."""
