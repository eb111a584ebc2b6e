"""Reporting's domain."""
