"""Platform pieces every CARE badges service shares: event contracts, messaging, storage, HTTP.

Services import from here and never from one another.
"""
