"""How a reviewer reads labels, their history and the model's figures: the words the Review
tab shows and the review messages use."""

from __future__ import annotations

from core.spatial import ObjectContext
from core.taxonomy import object_word
from storage import history as history_store
from storage.db import Database


def label_text(object_type: str, condition: str | None) -> str:
    """'slope drain · blocked': how a reviewer reads a label (``?``: condition unknown)."""
    return f"{object_word(object_type)} · {condition or '?'}"


# A label event's action as the history table says it (stored as the key; "move+relabel" for both).
ACTION_WORDS = {
    "create": "found by the model",
    "accept": "accepted",
    "move": "box moved or resized",
    "relabel": "relabelled",
    "delete": "deleted",
    "add": "drawn",
    "undo": "undo",
    "redo": "redo",
    "import": "imported",
    "import-condition": "condition imported",
}


def action_words(action: str) -> str:
    return ", ".join(ACTION_WORDS.get(part, part) for part in action.split("+"))


def describe_state(state: dict | None) -> str:
    """'slope drain · normal, pending; box x 136–149, y 43–206 px'."""
    if not state:
        return ""
    x1, y1, x2, y2 = (f"{v:.0f}" for v in state["box"])
    return f"{label_text(state['object_type'], state['condition'])}, {state['status']}; box x {x1}–{x2}, y {y1}–{y2} px"


def history_rows(db: Database, image_id: int, limit: int = 50) -> list[list[str]]:
    return [
        [
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            f"#{e.box_number}",
            action_words(e.action),
            describe_state(e.before),
            describe_state(e.after),
        ]
        for e in history_store.photo_history(db, image_id, limit)
    ]


def relations_text(relations: dict | None) -> str:
    """Where the object is, in the words its prompt used ('bottom-center of the photo, at the
    foot of a slope drain')."""
    if not relations:
        return ""
    return ObjectContext.from_dict(relations).describe()


def probs_text(probs: dict[str, float] | None) -> str:
    if not probs:
        return "(person's label)"
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(probs.items(), key=lambda kv: -kv[1]))
