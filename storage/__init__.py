"""Persistence of images, predictions, reviewed labels and their history (issue 3)."""
