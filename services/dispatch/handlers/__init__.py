"""What sets dispatch's use cases going on its own: events arriving, and the allocator waking."""
