"""The registry's use cases: record a version from its card, judge it, promote it, roll back, and
say what serves. The app's Train tab, ``slope models`` and the improvement jobs all go through
here, so a promotion is done (and recorded: who, why, when) one way.

Which version serves is a record (``storage.registry``), never a folder overwrite: the
``ModelServer`` of every process reads it for its next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.model_card import ModelCard, read_card
from core.statuses import ModelStatus
from storage import registry as rows
from storage.blobs import blobs_for, model_key
from storage.db import Database
from storage.errors import NotFoundError
from storage.models import ModelVersion

KINDS = ("detector", "condition")


def record(db: Database, folder: str | Path, quantization: str | None = None) -> ModelCard:
    """Put the model published in ``folder`` on record from its card, as a candidate (recording a
    version again changes nothing). Returns the card."""
    card = read_card(folder)
    if card is None:
        raise FileNotFoundError(f"{folder} has no card.json: only a published model folder is recorded")
    # Into the object store first, then on record: a version on record can be fetched anywhere.
    blobs_for().put_folder(model_key(card.kind, card.version), Path(folder))
    rows.record_version(db, card, folder, ModelStatus.CANDIDATE, quantization)
    return card


def judge(db: Database, kind: str, name: str, passed: bool, figures: dict[str, Any], judged: bool = True) -> None:
    """Keep the gate's figures on the version's record; a version the gate failed is rejected,
    one it could not judge (too few held-out photos) stays a candidate."""
    status = ModelStatus.CANDIDATE if passed or not judged else ModelStatus.REJECTED
    rows.update_version(db, kind, name, metrics=figures, status=status)


def _why(reason: str) -> str:
    """A change of what every inspector gets is a decision with a reason: never a blank one."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("say why: a promotion or rollback needs a reason, kept with it")
    return reason


def promote(
    db: Database, kind: str, name: str, *, actor: str, reason: str, replacing: str | None = None
) -> ModelVersion:
    """Serve the ``kind`` version ``name`` from the next request on; the one served until now is
    retired. Recorded as an event (who, when, from, to, why, the version's gate report).
    ``NotFoundError`` for an unknown version, ``FileNotFoundError`` when its folder is gone,
    ``ValueError`` without a reason; with ``replacing`` (the version ``name`` was compared with),
    ``ServedChanged`` when another one is served by now."""
    return rows.serve(db, kind, name, actor, _why(reason), replacing)


def rollback(db: Database, kind: str, *, actor: str, reason: str) -> ModelVersion:
    """Serve again the version of ``kind`` that served most recently before the current one."""
    reason = _why(reason)
    previous = rows.previously_served(db, kind)
    if previous is None:
        raise NotFoundError(f"no earlier {kind} version has served: nothing to roll back to")
    return rows.serve(db, kind, previous.name, actor, reason)


@dataclass(frozen=True)
class RegistryStatus:
    served: dict[str, ModelVersion]  # kind -> the version served
    candidates: list[ModelVersion]  # passed their gate (or not judged yet), not served; newest first


def status(db: Database) -> RegistryStatus:
    every = rows.versions(db)
    return RegistryStatus(
        served={v.kind: v for v in every if v.status == ModelStatus.SERVED},
        candidates=[v for v in every if v.status == ModelStatus.CANDIDATE],
    )


versions = rows.versions
events = rows.events
served_version = rows.served_version
find_version = rows.find_version
