"""Events orders listens to: its projection of authorised locations and order status."""
