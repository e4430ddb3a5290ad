"""Contrastive training of instruction embedders (supervised by task labels, or SimCSE)."""
