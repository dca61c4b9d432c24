"""Code shared by every service: the event contract, messaging guarantees, runtime."""
