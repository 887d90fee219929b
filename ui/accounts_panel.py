"""The admin's accounts panel (inside the Train tab, which only admins see): the accounts in a
table, and one change at a time to the one picked. Every handler checks the admin role."""

from __future__ import annotations

import gradio as gr

from services import accounts
from services.errors import ServiceError
from storage.db import Database
from ui.access import guard

HEADERS = ["Name", "Role", "State", "Since"]


def build_accounts_panel(db: Database) -> None:
    admin = guard(db, "admin")
    with gr.Accordion("Accounts", open=False) as panel:
        table = gr.Dataframe(headers=HEADERS, show_label=False, interactive=False)
        with gr.Row():
            name = gr.Dropdown([], label="Account", allow_custom_value=False, elem_id="accounts-name")
            role = gr.Dropdown(list(accounts.ROLES), value="reviewer", label="Role", elem_id="accounts-role")
            password = gr.Textbox(label="New password (8 characters or more)", type="password")
        with gr.Row():
            set_role = gr.Button("Change role", size="sm")
            disable = gr.Button("Disable", size="sm", variant="stop")
            enable = gr.Button("Enable", size="sm")
            set_password = gr.Button("Set password", size="sm")
        with gr.Row():
            new_name = gr.Textbox(label="New account's name")
            add = gr.Button("Add account (with the role and password above)", size="sm")
        message = gr.Markdown()

    def listed(text: str = ""):
        rows = accounts.account_rows(db)
        return rows, gr.update(choices=[row[0] for row in rows]), text

    def show(request: gr.Request):
        admin(request)
        return listed()

    def done(action) -> tuple:
        """The table, the names and what ``action()`` says, a refusal included: written in the
        panel's message, where raising it would mark the table and the list as failed too."""
        try:
            return listed(action())
        except ServiceError as refused:
            return listed(f"**{refused.message}**")

    def change(**what):
        def handler(username, chosen_role, new_password, request: gr.Request):
            user = admin(request)
            values = {"role": chosen_role, "password": new_password}
            change = {key: values.get(key, value) for key, value in what.items()}
            return done(lambda: accounts.change_account(db, user.username, username, **change))

        return handler

    def add_handler(username, chosen_role, new_password, request: gr.Request):
        admin(request)
        return done(lambda: accounts.add_account(db, username, chosen_role, new_password))

    outputs = [table, name, message]
    inputs = [name, role, password]
    panel.expand(show, None, outputs)  # read when opened: accounts change from the shell too
    for button, what in (
        (set_role, {"role": None}),
        (disable, {"disabled": True}),
        (enable, {"disabled": False}),
        (set_password, {"password": None}),
    ):
        button.click(change(**what), inputs, outputs)
    add.click(add_handler, [new_name, role, password], outputs)
