"""Reporting's api."""
