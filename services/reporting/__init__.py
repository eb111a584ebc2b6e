"""Reporting: anonymised management information for DHSC, built only from events."""
