"""Imports every built-in env family so its ids register; `make` and `registered_ids` import it.

Registering imports no JaxMARL env module: each family imports its own when one of its envs is
first built (see jaxmarl_import.py), so no command pays for the families it does not play.
"""
from arena.envs import matrix_games, mpe_tag, mpe_tag_intent, overcooked  # noqa: F401
