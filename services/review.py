"""Review use cases behind the Review tab: a queue of photos (least certain first), one photo at
a time with all its labels, and the reviewer's actions on it, each saved in one transaction with
its history. No Gradio here: the tab converts its components' values to and from these types.

A reviewer's view of a photo carries each label's version. Saving sends those versions along;
a label another reviewer changed meanwhile is left as they saved it, and the reviewer gets a
message naming who changed it and the change of theirs that was not applied, plus the fresh
state of the photo (nothing either of them did is lost).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.statuses import LabelStatus
from core.taxonomy import ALLOWED_CONDITIONS, OBJECT_TYPES, counted, object_word
from core.types import Box, LabelledBox
from services.errors import ServiceError
from services.review_text import label_text
from storage import errors as errors_store
from storage import history as history_store
from storage import review as review_store
from storage.db import Database
from storage.review import LabelChange, PhotoView

STATUS_CHOICES = tuple(review_store.STATUS_GROUPS)  # "to review", "reviewed", "all", then each status
BOX_MATCH_PX = 1.5  # the editor rounds boxes to whole pixels


class FilterError(ServiceError, ValueError):
    """A queue filter no photo can match (a ValueError too, for callers that check values)."""


@dataclass(frozen=True)
class Filters:
    survey: str | None = None
    object_type: str | None = None
    condition: str | None = None
    status: str = "to review"

    def __post_init__(self) -> None:
        if self.object_type is not None and self.object_type not in OBJECT_TYPES:
            raise FilterError(f"unknown object type {self.object_type!r}; expected one of {OBJECT_TYPES}")
        if self.status not in review_store.STATUS_GROUPS:
            raise FilterError(f"status must be one of {', '.join(STATUS_CHOICES)}, got {self.status!r}")


@dataclass
class ReviewSession:
    """One reviewer's place in the queue: the photos seen (image_id, queue key) and the one shown."""

    filters: Filters = field(default_factory=Filters)
    trail: list[tuple[int, float, int]] = field(default_factory=list)  # (image_id, key, key label id)
    pos: int = -1
    photo: PhotoView | None = None


@dataclass(frozen=True)
class EditorBox:
    """A box as the box editor gives it back: ``label_id`` None for a box drawn just now."""

    label_id: int | None
    box: Box
    object_type: str | None = None
    condition: str | None = None


@dataclass(frozen=True)
class LabelEdit:
    """The side panel's choice for one label (type and/or condition)."""

    object_type: str | None = None
    condition: str | None = None


@dataclass
class Outcome:
    photo: PhotoView | None
    message: str
    conflicts: list[review_store.Conflict] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    left_pending: int = 0  # labels outside the queue's filters that an accept-the-rest left pending

    def moved_on(self, name: str) -> str:
        """What the save did, said once the page shows the next photo (``name``: the saved one)."""
        done = f"saved {counted(len(self.changed), 'label change')}" if self.changed else "nothing left to save"
        rest = f"; {counted(self.left_pending, 'label')} outside the filters left pending" if self.left_pending else ""
        return f"{name}: {done}{rest}."


# ---------------------------------------------------------------- queue and navigation


def counts(db: Database, filters: Filters) -> dict[str, int]:
    return review_store.review_counts(
        db, survey=filters.survey, object_type=filters.object_type, condition=filters.condition
    )


def _queue_after(db: Database, filters: Filters, after: tuple[float, int] | None) -> tuple[int, float, int] | None:
    rows = review_store.photo_queue(
        db,
        survey=filters.survey,
        object_type=filters.object_type,
        condition=filters.condition,
        status=filters.status,
        after=after,
        limit=1,
    )
    return rows[0] if rows else None


def start(db: Database, filters: Filters) -> ReviewSession:
    """A fresh session at the first (least certain) photo under ``filters``."""
    session = ReviewSession(filters=filters)
    first = _queue_after(db, filters, None)
    if first is not None:
        session.trail, session.pos = [first], 0
        session.photo = review_store.photo_view(db, first[0])
    return session


def next_photo(db: Database, session: ReviewSession) -> ReviewSession:
    """The next photo: forward along the trail after a "previous", else the next in the queue
    after the current one's key (photos reviewed meanwhile have left the queue)."""
    if session.pos + 1 < len(session.trail):
        pos = session.pos + 1
        return replace(session, pos=pos, photo=review_store.photo_view(db, session.trail[pos][0]))
    after = None
    if session.pos >= 0:
        _, key, label_id = session.trail[session.pos]
        after = (key, label_id)
    found = _queue_after(db, session.filters, after)
    if found is None:
        return replace(session, photo=None, pos=len(session.trail))
    trail = [*session.trail, found]
    return replace(session, trail=trail, pos=len(trail) - 1, photo=review_store.photo_view(db, found[0]))


def previous_photo(db: Database, session: ReviewSession) -> ReviewSession:
    if session.pos <= 0:
        return session if session.photo is not None or not session.trail else replace(session, pos=0)
    pos = min(session.pos, len(session.trail)) - 1
    return replace(session, pos=pos, photo=review_store.photo_view(db, session.trail[pos][0]))


def place(db: Database, session: ReviewSession) -> int | None:
    """The shown photo's place in the queue under the session's filters (1: first), or None when
    it is not in the queue now (all its labels reviewed)."""
    if session.photo is None:
        return None
    f = session.filters
    key = review_store.photo_key(
        db, session.photo.image_id, object_type=f.object_type, condition=f.condition, status=f.status
    )
    if key is None:
        return None
    filters = {"survey": f.survey, "object_type": f.object_type, "condition": f.condition, "status": f.status}
    return 1 + review_store.photos_before(db, key, **filters)


def overview(db: Database, filters: Filters, name_contains: str | None = None) -> list[review_store.OverviewRow]:
    """The queue under ``filters`` at a glance (searchable by file name), least certain first."""
    return review_store.queue_overview(
        db,
        survey=filters.survey,
        object_type=filters.object_type,
        condition=filters.condition,
        status=filters.status,
        name_contains=(name_contains or "").strip() or None,
    )


def jump_to(db: Database, session: ReviewSession, image_id: int) -> ReviewSession:
    """Open photo ``image_id`` next in this session: "next" then goes on in the queue after it,
    "previous" back to where the reviewer was."""
    f = session.filters
    key = review_store.photo_key(db, image_id, object_type=f.object_type, condition=f.condition)
    if key is None:
        raise ServiceError("That photo has no label under these filters any more; refresh the overview.")
    trail = [*session.trail[: session.pos + 1], (image_id, *key)]
    return replace(session, trail=trail, pos=len(trail) - 1, photo=review_store.photo_view(db, image_id))


def reload(db: Database, session: ReviewSession) -> ReviewSession:
    if session.photo is None:
        return session
    return replace(session, photo=review_store.photo_view(db, session.photo.image_id))


# ---------------------------------------------------------------- saving


def diff_editor(
    photo: PhotoView, boxes: list[EditorBox]
) -> tuple[dict[int, Box], dict[int, LabelEdit], list[int], list[LabelledBox], list[str]]:
    """Compare the editor's boxes with the photo as loaded: (moved boxes by label id, relabels
    from the editor's label picker, label ids removed, new boxes, problems)."""
    loaded = {label.label_id: label for label in photo.labels}
    seen: set[int] = set()
    moved: dict[int, Box] = {}
    relabels: dict[int, LabelEdit] = {}
    fresh: list[EditorBox] = []
    for box in boxes:
        if box.label_id in loaded and box.label_id not in seen:
            seen.add(box.label_id)
            label = loaded[box.label_id]
            if _differs(box.box, label.box):
                moved[label.label_id] = box.box
            if box.object_type and (box.object_type, box.condition) != (label.object_type, label.condition):
                relabels[label.label_id] = LabelEdit(box.object_type, box.condition)
        else:
            fresh.append(box)
    missing = [i for i in loaded if i not in seen]
    new_boxes, problems = [], []
    for box in fresh:
        # The editor's label picker drops the "#number" from a box's label: a new box exactly where a
        # missing label was is that label, relabelled.
        same = next((i for i in missing if not _differs(box.box, loaded[i].box)), None)
        if same is not None and box.object_type:
            missing.remove(same)
            relabels[same] = LabelEdit(box.object_type, box.condition)
        elif box.object_type is None:
            problems.append("a new box has no object type: pick one in the box's label list")
        else:
            try:
                labelled = LabelledBox(box.box, box.object_type, box.condition)
                labelled.check_inside(photo.width, photo.height)
            except ValueError as bad:
                problems.append(f"a new {object_word(box.object_type)} box was refused: {bad}")
                continue
            new_boxes.append(labelled)
    return moved, relabels, missing, new_boxes, problems


def _differs(a: Box, b: Box) -> bool:
    """Moved by more than ``BOX_MATCH_PX``; a coordinate that is not a number differs (it is
    refused when saved, never read as "not moved")."""
    return any(not abs(x - y) <= BOX_MATCH_PX for x, y in zip(a, b, strict=True))


MAX_NEW_BOXES = 100  # per save, unless told (Settings.max_new_boxes): more is a client flooding the store


def as_loaded(photo: PhotoView) -> list[EditorBox]:
    """The photo's boxes as loaded, in the editor's form: what a save sends when the reviewer
    moved, drew and removed nothing."""
    return [EditorBox(label.label_id, label.box) for label in photo.labels]


def in_scope(label: review_store.PhotoLabel, filters: Filters) -> bool:
    """Whether a label is one the queue's filters put in front of the reviewer (type and
    condition; the survey and status choose photos, not labels)."""
    condition = label.condition or review_store.UNKNOWN
    return filters.object_type in (None, label.object_type) and filters.condition in (None, condition)


def save(
    db: Database,
    actor: str,
    photo: PhotoView,
    boxes: list[EditorBox] | None,
    *,
    edits: dict[int, LabelEdit] | None = None,
    accept: tuple[int, ...] = (),
    delete: tuple[int, ...] = (),
    accept_rest: bool = False,
    filters: Filters | None = None,
    max_new_boxes: int = MAX_NEW_BOXES,
) -> Outcome:
    """Save everything a reviewer did on ``photo`` in one transaction: the editor's boxes (moved,
    drawn, removed), type/condition edits, accepted and deleted labels, and with
    ``accept_rest`` every label still pending that the queue's ``filters`` show. Returns the
    fresh photo and a message.

    The rules that make a reviewed label mean a person saw it hold here, whatever the client:
    ``boxes`` (the editor's boxes, ``as_loaded`` when untouched) must come with every save, so a
    save without them (or with none left, on a photo with labels) is refused instead of read as
    "every box removed": the last box goes with ``delete``; a label is accepted
    only if its box was among them (on the reviewer's screen), and "accept the rest" leaves the
    labels outside the filters pending; at most ``max_new_boxes`` new boxes per save."""
    if not boxes and photo.labels:
        # An API payload without boxes arrives as an empty list: never read it as "remove them all".
        return Outcome(
            photo,
            "Nothing saved: the photo's boxes did not come with the save (reload the photo). "
            "To remove the last box, select it and press Delete label (d).",
        )
    filters = filters or Filters()
    loaded = {label.label_id: label for label in photo.labels}
    moved, relabels, removed, new_boxes, problems = diff_editor(photo, boxes)
    if len(new_boxes) > max_new_boxes:
        problems.append(f"{len(new_boxes)} new boxes in one save, at most {max_new_boxes}")
    if problems:
        return Outcome(photo, "Nothing saved: " + "; ".join(problems) + ".")
    wanted: dict[int, LabelEdit] = {**relabels, **(edits or {})}
    for label_id in [*wanted, *accept, *delete]:
        if label_id not in loaded:
            return Outcome(photo, "Nothing saved: a label you changed is not on this photo (reload it).")
    deleted = set(removed) | set(delete)
    unseen = [label_id for label_id in accept if label_id in removed]
    if unseen:
        numbers = ", ".join(f"#{photo.number(i)}" for i in unseen)
        return Outcome(photo, f"Nothing saved: {numbers} cannot be accepted, its box was not on your screen.")
    changes = []
    left_pending = 0
    for label_id, label in loaded.items():
        if label_id in deleted:
            changes.append(LabelChange(label_id, label.version, delete=True))
            continue
        edit = wanted.get(label_id, LabelEdit())
        object_type = edit.object_type if edit.object_type != label.object_type else None
        condition = edit.condition if edit.condition != label.condition else None
        reset = False
        if object_type is not None and condition is None:
            # A new type keeps the condition only if the type allows it (else "unknown", or the
            # only one allowed); the side panel may also have picked a condition for it.
            reset = label.condition not in ALLOWED_CONDITIONS.get(object_type, ())
        rest = accept_rest and label.status == LabelStatus.PENDING
        left_pending += rest and not in_scope(label, filters) and label_id not in accept
        wants_accept = label_id in accept or (rest and in_scope(label, filters))
        if label_id in moved or object_type or condition or reset or wants_accept:
            changes.append(
                LabelChange(
                    label_id,
                    label.version,
                    box=moved.get(label_id),
                    object_type=object_type,
                    condition=condition,
                    reset_condition=reset and len(ALLOWED_CONDITIONS.get(object_type, ())) != 1,
                    accept=wants_accept,
                    seen=(label.object_type, label.condition),
                )
            )
    if not changes and not new_boxes:
        return Outcome(review_store.photo_view(db, photo.image_id), "Nothing to save: no change.")
    try:
        result = review_store.save_photo(db, photo.image_id, actor, changes, new_boxes)
    except ValueError as exc:
        return Outcome(photo, f"Nothing saved: {exc}.")
    fresh = review_store.photo_view(db, photo.image_id)
    message = _message(result, fresh)
    if left_pending:
        message += f" {counted(left_pending, 'label')} outside the filters left pending."
    return Outcome(fresh, message, result.conflicts, result.changed, left_pending)


@dataclass(frozen=True)
class Step:
    """What the page does after a save: the label to select, the message, whether to move on."""

    selected: int | None
    message: str
    move_on: bool = False


def after_save(outcome: Outcome, selected: int | None, save_and_next: bool) -> Step:
    """A box drawn in this save without a condition is selected (the message asks for it: the
    condition keys must act on it). Save & next moves on once the save went through, unless a
    box drawn on the photo has no condition yet (a drawn box is a person's; its condition should
    be too); on the next photo the message names the photo it saved."""
    undecided = [lb.label_id for lb in outcome.photo.labels if lb.status == LabelStatus.ADDED and lb.condition is None]
    drawn_now = [i for i in undecided if i in outcome.changed]
    selected = drawn_now[0] if drawn_now else selected
    saved = not outcome.conflicts and not outcome.message.startswith("Nothing saved")
    if not (save_and_next and saved):
        return Step(selected, outcome.message)
    if undecided:
        stay = " Not moved on: a box drawn here has no condition yet (1 normal, 2 blocked, 3 damaged)."
        return Step(undecided[0], outcome.message + stay)
    return Step(None, outcome.moved_on(outcome.photo.original_name), move_on=True)


def _message(result: review_store.SaveResult, fresh: PhotoView) -> str:
    parts = []
    if result.changed:
        parts.append(f"Saved {counted(len(result.changed), 'label change')}.")
    for c in result.conflicts:
        now = f"{label_text(c.now['object_type'], c.now['condition'])} ({c.now['status']})"
        when = f" at {c.at:%H:%M:%S}" if c.at else ""
        parts.append(
            f"Conflict on #{fresh.number(c.label_id)}: {c.by} changed it{when} since you loaded this photo; "
            f"it is now {now}. "
            f"Your change ({c.wanted}) was not applied: the fresh state is shown, re-apply it if it is still right."
        )
    unknown = [fresh.number(label.label_id) for label in fresh.labels if label.condition is None]
    if unknown:
        parts.append("Choose a condition for " + ", ".join(f"#{i}" for i in unknown) + ".")
    return " ".join(parts) or "Nothing changed."


def undo_last(db: Database, actor: str, photo: PhotoView) -> Outcome:
    """Revert the photo's last action not yet undone (any reviewer's save, however many labels
    it touched), unless a label of it changed since."""
    return _revert(db, actor, photo, history_store.undo_last, ("undo", "Undid", "Not undone"))


def redo_last(db: Database, actor: str, photo: PhotoView) -> Outcome:
    """Bring back the photo's last undone action, if nothing was saved on the photo since."""
    return _revert(db, actor, photo, history_store.redo_last, ("redo", "Redid", "Not redone"))


def _revert(db: Database, actor: str, photo: PhotoView, revert, words: tuple[str, str, str]) -> Outcome:
    verb, done, refused = words
    try:
        action = revert(db, photo.image_id, actor)
    except errors_store.ConflictError:
        fresh = review_store.photo_view(db, photo.image_id)
        return Outcome(fresh, f"{refused}: a label of that action changed since; fresh state shown.")
    fresh = review_store.photo_view(db, photo.image_id)
    if action is None:
        return Outcome(fresh, f"Nothing to {verb} on this photo.")
    boxes = ", ".join(f"#{n}" for n in action.boxes)
    changed = sorted({e.label_id for e in action.events})
    return Outcome(fresh, f"{done} {action.actor}'s {action.kind} of {boxes}.", changed=changed)
