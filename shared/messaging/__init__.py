"""Reliable messaging: inbox (effectively-once), outbox (atomic state + events), dead letters."""
