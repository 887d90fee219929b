"""Use cases shared by the UI and the command lines: inspecting batches of photos, serving the
current models. No Gradio here; storage and models are reached through their own packages."""
