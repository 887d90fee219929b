"""The first-run form: on a fresh install (no account yet) a browser on the machine running the
app creates the first admin here, instead of reading the console. Shown to nobody else; the
service checks both conditions again (``services.auth.create_first_admin``)."""

from __future__ import annotations

import gradio as gr

from services import auth
from storage.db import Database
from storage.users import has_users
from ui.access import from_this_machine, login_switched_on, refusals_shown


def build_first_run(db: Database) -> tuple[gr.Column, object]:
    """The form (hidden until ``show`` says otherwise) and ``show(request) -> update`` for the
    page's load event."""
    with gr.Column(visible=False, elem_id="first-run") as panel:
        gr.Markdown(
            "### First run: create the admin account\n"
            "No account exists yet. The admin reviews, trains and promotes models, and adds the other "
            "accounts (Train tab, *Accounts*; or `slope users add NAME --role reviewer`). This form shows "
            "only in a browser on the machine running the app."
        )
        with gr.Row():
            name = gr.Textbox(label="Admin name", elem_id="first-run-name")
            password = gr.Textbox(label="Password (8 characters or more)", type="password", elem_id="first-run-pw")
            repeated = gr.Textbox(label="Password again", type="password", elem_id="first-run-pw2")
        create = gr.Button("Create the admin account", variant="primary", elem_id="first-run-create")
        message = gr.Markdown(elem_id="first-run-message")

    def created(username: str, pw: str, pw2: str, request: gr.Request):
        with refusals_shown():
            who = auth.create_first_admin(db, username, pw, pw2, from_this_machine(request))
        login_switched_on(request, db)
        return f"Admin account **{who}** created. Reload the page and log in as {who}."

    create.click(created, [name, password, repeated], message, api_name="first_run")

    def show(request: gr.Request):
        return gr.Column(visible=not has_users(db) and from_this_machine(request))

    return panel, show
