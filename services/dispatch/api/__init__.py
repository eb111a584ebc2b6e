"""Dispatch's HTTP surface: the operations stock API and the courier's status callback."""
