"""Events identity listens to: other services' contributions to a subject access request."""
