"""Identity's HTTP surface."""
