"""The pygame viewer, overlays, human play and export."""
