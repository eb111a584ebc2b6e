"""Verification's api."""
