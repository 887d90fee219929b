"""Building and improving the models: the default detector and condition model, and later
fine-tuning, quantization and evaluation. Entry points are plain functions taking one settings
dataclass, so the CLI, the UI and the tests call the same code."""
