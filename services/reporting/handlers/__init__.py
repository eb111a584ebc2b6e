"""Reporting's handlers."""
