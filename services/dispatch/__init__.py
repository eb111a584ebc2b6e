"""Dispatch: the badge stock, reservations and waitlist, shipments and the courier's reports."""
