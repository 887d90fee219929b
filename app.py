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

from core.model_info import read_metadata  # noqa: E402
from core.pipeline import Inspector  # noqa: E402
from core.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.repository import record_model_version  # noqa: E402
from ui.dashboard_tab import build_dashboard_tab  # noqa: E402
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
        with gr.Tab("Dashboard"):
            build_dashboard_tab(settings, db)
    return demo


def record_served_models(db: Database, settings: Settings, inspector: Inspector) -> None:
    """Put the models being served on record (once per version) with their headline metrics."""
    detector = read_metadata(settings.detector_model).get("metrics_val", {})
    condition = read_metadata(settings.condition_model).get("metrics_heldout_synthesized", {})
    for kind, version, folder, metrics in (
        (
            "detector",
            inspector.detector.version,
            settings.detector_model,
            {k: detector[k] for k in ("map50", "map50_95") if k in detector},
        ),
        (
            "condition",
            inspector.condition_model.version,
            settings.condition_model,
            {"heldout_accuracy_synthesized": condition["accuracy"]} if "accuracy" in condition else {},
        ),
    ):
        record_model_version(db, kind, version, folder, metrics, status="served")


def main() -> None:
    settings = Settings.from_env()
    db = Database.from_settings(settings)  # creates or upgrades the schema
    inspector = Inspector.from_settings(settings)  # load before serving: the first answer is fast
    record_served_models(db, settings, inspector)
    build_app(settings, inspector, db).launch(max_file_size=settings.max_upload_bytes)


if __name__ == "__main__":
    main()
