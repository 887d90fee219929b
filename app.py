"""Slope drainage inspection: the Gradio app.

    python app.py            # serves on http://127.0.0.1:7860 with the shipped default models

Settings come from the environment (see ``core/settings.py``), e.g.
``SLOPE_CONDITION_MODEL=Qwen/Qwen2-VL-2B-Instruct SLOPE_DETECTOR_MODEL=path/to/best.pt``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from core.offline import prepare_offline

prepare_offline()  # before gradio and ultralytics read their environment
# Gradio's queue rebuilds a pandas table of its last 10,000 events after every event, for the
# latencies on the API page: 5-13 ms of CPU an event (two per Inspect on the page, and every timer
# tick), most of the queue's own cost under load. Every 500 events is fresh enough for that page.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "500")

import gradio as gr  # noqa: E402

from core.settings import Settings  # noqa: E402
from lifecycle.server import ModelServer, register_configured_models  # noqa: E402
from services.auth import (  # noqa: E402
    DEMO_USER,
    LOGIN_WINDOW,
    MAX_FAILURES_PER_NAME,
    ensure_demo_account,
    ensure_first_admin,
    ignored_admin_variables,
)
from services.demo import keep_resetting, private_store, reset_demo_store  # noqa: E402
from services.jobs import fail_orphaned_runs  # noqa: E402
from storage.db import Database, start_up_problem  # noqa: E402
from storage.users import has_users  # noqa: E402
from ui.access import account_line, login_switched_on, refusal  # noqa: E402
from ui.dashboard_tab import build_dashboard_tab  # noqa: E402
from ui.errors import plain_errors  # noqa: E402
from ui.first_run import build_first_run  # noqa: E402
from ui.inspect_tab import build_inspect_tab  # noqa: E402
from ui.review_tab import build_review_tab  # noqa: E402
from ui.scratch import gradio_cache_policy, keep_pruning  # noqa: E402
from ui.train_tab import build_train_tab  # noqa: E402
from ui.web_guard import login_check, middleware  # noqa: E402

TITLE = "Slope drainage inspection"
# Gradio's login page answers every refusal "Incorrect Credentials": the rule is said up front.
LOGIN_MESSAGE = (
    f"Log in with your slope-inspection account. After {MAX_FAILURES_PER_NAME} wrong passwords, a name "
    f"waits {LOGIN_WINDOW.total_seconds() / 60:.0f} minutes before it can log in again."
)
FIRST_RUN_HINT = (
    "No account exists yet: inspecting is open to everyone. Open the app in a browser on this machine "
    "to create the first admin (a form at the top of the page), or run `slope users add NAME --role admin`."
)
DEMO_NOTICE = (
    "**Public demo.** Photos you inspect are not stored and nobody else sees them. The Review tab holds "
    "only the example photos; corrections there are shared and wiped every {minutes} minutes. "
    "Training is switched off."
)

# A session ends when its account is disabled or its password set (``ui/sessions.py``): the
# server then answers the page's next action 401, which Gradio shows only as red "Error" badges on
# the outputs. Any 401 from the app's API says so at the top of the page, with the way back.
SESSION_ENDED_JS = """
if (!window.__slopeSessionWatch) {
  window.__slopeSessionWatch = true;
  const ended = () => {
    if (document.getElementById("session-ended")) return;
    const note = document.createElement("div");
    note.id = "session-ended";
    note.setAttribute("role", "alert");
    note.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:1000;padding:12px 16px;" +
      "background:#fef3c7;color:#78350f;border-bottom:1px solid #f59e0b;text-align:center;font-size:15px;";
    note.innerHTML = "<b>Your session has ended</b>: you were logged out, or an admin changed your account " +
      "(disabled it or set its password). Nothing more is saved from this page. " +
      "<a href='./' target='_self' style='color:inherit;font-weight:600'>Reload the page</a> to log in again.";
    document.body.prepend(note);
  };
  const fetched = window.fetch;
  window.fetch = async (...args) => {
    const answer = await fetched(...args);
    const url = String(args[0]?.url ?? args[0]);
    if (answer.status === 401 && url.includes("/gradio_api/")) ended();
    return answer;
  };
}
"""


def _drop_gradio_asset_lines() -> None:
    """Gradio 6.31 prints a line for every custom-component file a page loads ("id=..,
    environment=client, type=component, file_name=..": 5 per page view, 164 lines in 20 minutes
    of use), burying the app's own log. Those lines are dropped; its other prints pass."""
    import builtins

    import gradio.routes

    def print_except_asset_lines(*args, **kwargs) -> None:
        if args and isinstance(args[0], str) and args[0].startswith("id=") and ", environment=" in args[0]:
            return
        builtins.print(*args, **kwargs)

    gradio.routes.print = print_except_asset_lines


def build_app(settings: Settings, server: ModelServer, db: Database | None = None) -> gr.Blocks:
    """The app. Every request asks ``server`` for the models to use, so a promoted version
    serves from the next request on. With a ``db`` every inspection is stored for review."""
    _drop_gradio_asset_lines()
    with gr.Blocks(title=TITLE, delete_cache=gradio_cache_policy(settings)) as demo:
        gr.Markdown(
            f"# {TITLE}\nDetects rock toes, slope drains, toe drains and vegetation on slope photos "
            "and judges each object's condition (normal / blocked / damaged)."
        )
        account = gr.HTML("", elem_id="account-line", padding=False, js_on_load=SESSION_ENDED_JS)
        first_run, first_run_shown = build_first_run(db) if db is not None else (None, None)
        if settings.demo_mode:
            gr.Markdown(DEMO_NOTICE.format(minutes=f"{settings.demo_reset_minutes:g}"))
        with gr.Tab("Inspect"):
            # Demo visitors' photos are never stored, so no visitor sees another's.
            build_inspect_tab(server.inspector, settings, None if settings.demo_mode else db)
        with gr.Tab("Dashboard"):
            build_dashboard_tab(settings, server, db)
        by_role = []  # (refusal text, the tab's controls, the role its actions need)
        if db is not None:
            with gr.Tab("Review"):
                with gr.Column() as review:
                    build_review_tab(db, settings.data_dir, settings.max_new_boxes)
                by_role.append((gr.Markdown(visible=False), review, "reviewer"))
        if db is not None and settings.broker_url and not settings.demo_mode:
            from ui.queue_tab import build_queue_tab  # with a broker only: Celery is not loaded without

            with gr.Tab("Queued surveys"):
                with gr.Column() as queued:
                    build_queue_tab(settings, db)
                by_role.append((gr.Markdown(visible=False), queued, "inspector"))
        if db is not None and not settings.demo_mode:
            with gr.Tab("Train"):
                with gr.Column() as train:
                    build_train_tab(settings, server, db)
                by_role.append((gr.Markdown(visible=False), train, "admin"))

        # Gradio cannot hide a tab after the page is built, so a tab whose role the account lacks
        # shows why in place of its controls.
        def for_account(request: gr.Request) -> list:
            switched = login_switched_on(request, db)  # accounts were made while the app ran
            line = "Accounts exist now: reload the page to log in." if switched else account_line(request, db)
            updates = [line] + ([first_run_shown(request)] if first_run is not None else [])
            for _, _, role in by_role:
                why = refusal(request, db, role)
                text = f"This tab is not open to your account: {why}" if why else ""
                updates += [gr.Markdown(text, visible=why is not None), gr.Column(visible=why is None)]
            return updates

        outputs = [account, *([first_run] if first_run is not None else [])]
        outputs += [block for text, controls, _ in by_role for block in (text, controls)]
        demo.load(for_account, outputs=outputs, show_progress="hidden", api_visibility="private")
    return plain_errors(demo)


def store_settings(settings: Settings) -> Settings:
    """The public demo gets a private temporary store (``services.demo.private_store``); elsewhere
    the data directory must be writable."""
    if settings.demo_mode:
        private, said = private_store(settings)
        print(said)
        # A platform stops the app with SIGTERM, which skips the exit handlers that delete the
        # store: it closes the server as Ctrl-C does (the demo runs no training to wait for).
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        return private
    folder = Path(settings.data_dir)
    probe = folder if folder.exists() else folder.parent
    if not os.access(probe, os.W_OK):
        raise SystemExit(f"The data directory {folder} cannot be written; set SLOPE_DATA_DIR to a writable folder.")
    return settings


def main() -> None:
    settings = store_settings(Settings.from_env())
    if problem := start_up_problem(settings):
        raise SystemExit(f"Not started: {problem}")
    db = Database.from_settings(settings)  # creates or upgrades the schema
    register_configured_models(db, settings)
    fail_orphaned_runs(db, settings)  # a job that was running when the app stopped did not finish
    server = ModelServer(settings, db)
    server.inspector()  # load before serving: the first answer is fast
    created = ensure_first_admin(db)  # SLOPE_ADMIN_USER / SLOPE_ADMIN_PASSWORD at first start
    if created:
        print(f"Created the first admin account {created!r} from the environment.")
    elif ignored := ignored_admin_variables(db):
        print(ignored)
    login: dict = {"auth": login_check(db) if has_users(db) else None, "auth_message": LOGIN_MESSAGE}
    if settings.demo_mode:
        ensure_demo_account(db)
        # No login on the public demo: every visitor acts as the demo reviewer, never as an admin.
        login = {"auth_dependency": lambda request: DEMO_USER}
        stored = reset_demo_store(db, settings.data_dir, server.inspector())
        print(
            f"Demo mode: the review store holds the {stored} example photos, reset every "
            f"{settings.demo_reset_minutes:g} minutes."
        )
        keep_resetting(db, settings.data_dir, server.inspector, settings.demo_reset_minutes)
    elif login["auth"] is None:
        print(FIRST_RUN_HINT)
    keep_pruning(settings)
    launch(build_app(settings, server, db), settings, db, **login)


def launch(demo: gr.Blocks, settings: Settings, db: Database | None, **options) -> None:
    """Serve ``demo`` as the app is served: behind the web guard (the caller's address for login
    throttling, no API description on the login page, logout ending the session, sessions checked
    against the accounts in ``db``, downloads to their owner only), uploads up to the survey zip's
    cap. ``options``: more of ``launch``'s (the login, a test's loopback port)."""
    demo.launch(max_file_size=settings.largest_upload, app_kwargs={"middleware": middleware(db)}, **options)


if __name__ == "__main__":
    main()
