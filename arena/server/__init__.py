"""The arena server: one process that owns one results store and every write to it.

Agents are submitted over HTTP and stored by content; tournaments and ladders become leased
jobs (one compiled batch of cells each) that worker processes or Ray actors play; results,
replays and leaderboards are served back under /api/v1 and as small pages.
"""
