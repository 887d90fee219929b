"""Slope drainage inspection: the Gradio app.

    python app.py            # serves on http://127.0.0.1:7860 with the shipped default models

Settings come from the environment (see ``core/settings.py``), e.g.
``SLOPE_CONDITION_MODEL=Qwen/Qwen2-VL-2B-Instruct SLOPE_DETECTOR_MODEL=path/to/best.pt``.
"""

from __future__ import annotations

from core.offline import prepare_offline

prepare_offline()  # before gradio and ultralytics read their environment

import gradio as gr  # noqa: E402

from core.settings import Settings  # noqa: E402
from services.auth import (  # noqa: E402
    CREATE_USER_HINT,
    auth_function,
    ensure_demo_account,
    ensure_first_admin,
    has_users,
)
from services.jobs import fail_orphaned_runs  # noqa: E402
from services.serving import ModelServer, register_configured_models  # noqa: E402
from storage.db import Database  # noqa: E402
from ui.dashboard_tab import build_dashboard_tab  # noqa: E402
from ui.inspect_tab import build_inspect_tab  # noqa: E402
from ui.review_tab import build_review_tab  # noqa: E402
from ui.train_tab import build_train_tab  # noqa: E402

TITLE = "Slope drainage inspection"


def build_app(settings: Settings, server: ModelServer, db: Database | None = None) -> gr.Blocks:
    """The app. Every request asks ``server`` for the models to use, so a promoted version
    serves from the next request on. With a ``db`` every inspection is stored for review."""
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(
            f"# {TITLE}\nDetects rock toes, slope drains, toe drains and vegetation on slope photos "
            "and judges each object's condition (normal / blocked / damaged)."
        )
        with gr.Tab("Inspect"):
            build_inspect_tab(server.inspector, settings, db)
        with gr.Tab("Dashboard"):
            build_dashboard_tab(settings, server, db)
        if db is not None:
            with gr.Tab("Review"):
                build_review_tab(db, settings.data_dir)
        if db is not None:
            with gr.Tab("Train"):
                build_train_tab(settings, server, db)
    return demo


def main() -> None:
    settings = Settings.from_env()
    db = Database.from_settings(settings)  # creates or upgrades the schema
    register_configured_models(db, settings)
    fail_orphaned_runs(db, settings)  # a job that was running when the app stopped did not finish
    server = ModelServer(settings, db)
    server.inspector()  # load before serving: the first answer is fast
    created = ensure_first_admin(db)  # SLOPE_ADMIN_USER / SLOPE_ADMIN_PASSWORD at first start
    if created:
        print(f"Created the first admin account {created!r} from the environment.")
    message = "Log in with your slope-inspection account."
    if settings.demo_mode:
        message = ensure_demo_account(db)
    auth = auth_function(db) if has_users(db) else None
    if auth is None:
        print(CREATE_USER_HINT)
    build_app(settings, server, db).launch(max_file_size=settings.max_upload_bytes, auth=auth, auth_message=message)


if __name__ == "__main__":
    main()
