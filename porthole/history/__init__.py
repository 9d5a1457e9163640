"""Sweep history: the store, drift between sweeps, scheduled sweeps, webhooks and metrics."""
