"""The ``slope`` command line: the top layer beside ``app.py``; no other package imports it."""
