"""Inspection logic on PIL/numpy and dataclasses: no Gradio, no SQL."""
