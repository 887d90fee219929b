"""``ui.access.said_in``: an action's refusal written in the handler's message, every other output
left as it was; a refusal of who asks still raised."""

import gradio as gr
import pytest

from services.errors import NotAllowed, ServiceError
from ui.access import AccountRefused, refused, require, said_in

KEPT = gr.update()


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        (refused("Open the queue first."), "**Open the queue first.**"),
        (ServiceError("Nothing to export: survey [north](x)."), r"**Nothing to export: survey \[north\]\(x\).**"),
    ],
)
def test_a_refusal_is_written_in_the_message_and_the_rest_kept(refusal, said):
    def handler(value):
        raise refusal

    def stream(value):
        yield "first", "", ""
        raise refusal

    assert said_in(3, at=1)(handler)("x") == (KEPT, said, KEPT)
    assert list(said_in(3)(stream)("x")) == [("first", "", ""), (KEPT, KEPT, said)]


def test_an_answer_passes_as_it_is():
    assert said_in(2)(lambda value: (value, "done"))("x") == ("x", "done")


def test_a_refusal_of_who_asks_is_raised_for_the_page_and_api_clients_alike(monkeypatch):
    import ui.access

    def not_allowed(username, db, role):
        raise NotAllowed(f"ines is an inspector; this action needs a {role}.")

    monkeypatch.setattr(ui.access.auth, "require", not_allowed)
    with pytest.raises(AccountRefused, match="ines is an inspector; this action needs a reviewer"):
        said_in(1)(lambda: require(None, None, "reviewer"))()
