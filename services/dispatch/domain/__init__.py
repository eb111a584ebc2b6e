"""Dispatch's rules, free of I/O: parcels, the order state machine, the waitlist, signatures."""
