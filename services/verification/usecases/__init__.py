"""Verification's use cases: what the API, the back-office pages and the event handlers ask
for, each a transaction over ``store`` with ``domain``'s rules, refusing with
:mod:`shared.usecases`'s refusals for the caller to word."""
