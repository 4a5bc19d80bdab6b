"""Soak run: many requests through a real gateway against a fault-injecting upstream (see run.py)."""
