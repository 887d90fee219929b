"""Slope drainage inspection: the Gradio app.

    python app.py            # serves on http://127.0.0.1:7860 with the shipped default models

Settings come from the environment (see ``core/settings.py``), e.g.
``SLOPE_CONDITION_MODEL=Qwen/Qwen2-VL-2B-Instruct SLOPE_DETECTOR_MODEL=path/to/best.pt``.
"""

from __future__ import annotations

import functools

from core.offline import prepare_offline

prepare_offline()  # before gradio and ultralytics read their environment

import gradio as gr  # noqa: E402

from core.pipeline import Inspector  # noqa: E402
from core.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from ui.inspect_tab import build_inspect_tab  # noqa: E402

TITLE = "Slope drainage inspection"


def build_app(settings: Settings, inspector: Inspector | None = None, db: Database | None = None) -> gr.Blocks:
    """The app; models are loaded on first use unless an ``inspector`` is given. With a ``db``
    every inspection is stored for review."""
    get_inspector = (lambda: inspector) if inspector else functools.cache(lambda: Inspector.from_settings(settings))
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(
            f"# {TITLE}\nDetects rock toes, slope drains, toe drains and vegetation on slope photos "
            "and judges each object's condition (normal / blocked / damaged)."
        )
        with gr.Tab("Inspect"):
            build_inspect_tab(get_inspector, settings, db)
    return demo


def main() -> None:
    settings = Settings.from_env()
    db = Database.from_settings(settings)  # creates or upgrades the schema
    inspector = Inspector.from_settings(settings)  # load before serving: the first answer is fast
    build_app(settings, inspector, db).launch(max_file_size=settings.max_upload_bytes)


if __name__ == "__main__":
    main()
