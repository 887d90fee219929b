"""Gradio tabs: each turns core/storage results into plain UI values."""
