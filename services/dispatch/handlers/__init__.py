"""What dispatch does when events arrive, and the stock steps its API and CLI share."""
