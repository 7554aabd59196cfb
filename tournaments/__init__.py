"""Schedulers, ratings, statistics and reports."""
