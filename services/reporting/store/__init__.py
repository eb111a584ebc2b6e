"""Reporting's store."""
