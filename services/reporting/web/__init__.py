"""Reporting's pages for DHSC analysts and operations: staff sign-in and the MI page."""
