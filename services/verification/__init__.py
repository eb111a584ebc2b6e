"""Verification: automatic checks on every order, the review queue and reviewers' decisions."""
