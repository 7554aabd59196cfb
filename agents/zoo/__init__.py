"""Trained agents shipped with arena; load them as zoo:NAME."""
