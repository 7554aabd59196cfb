"""The pygame viewer, overlays, human play and export.

Importing the package sets two pygame defaults before any module imports pygame: no banner
on stdout (`--json` output goes there) and the dummy audio driver (the viewer never uses
sound, and machines without an audio device must not fail).
"""
import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
