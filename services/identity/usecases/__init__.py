"""Identity's application services: what signing in, creating an account, resetting a
password, restricting or copying one's data, adding a location and closing the portal do.

Each takes identity's context (:class:`~services.identity.usecases.context.Identity`), opens
the transaction its outcome shares with the brute-force counters, the audit row and the
events, and raises a refusal (:mod:`services.identity.usecases.refusals`) where a rule says
no. ``api/`` and ``cli.py`` parse their input, call these and word the answer.
"""
