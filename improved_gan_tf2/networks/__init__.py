"""The original release's networks, one parameterised definition each."""
