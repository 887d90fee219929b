"""The served models, behind a lock, swapped when the registry says another version is served.

Which detector and condition model are served is a record in the store (``storage.registry``),
not a folder: ``ModelServer.inspector()`` reads that record on every request and, when it names
other folders than the ones loaded, loads them and swaps. A promotion therefore reaches the next
inspection of every process that serves from the same store (the app, ``slope inspect``)
with no restart. Requests already running finish on the models they started with.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from pathlib import Path

from core.model_card import ModelCard, model_version, read_card
from core.pipeline import Inspector
from core.settings import Settings
from core.statuses import ModelStatus
from storage.db import Database, database_url
from storage.models import ModelVersion
from storage.registry import model_folder, record_version, serve, served_version


@dataclass(frozen=True)
class ServedFolders:
    detector: str
    condition: str


def _default(name: str) -> str:
    return next(f.default for f in fields(Settings) if f.name == name)


def card_of(kind: str, source: str) -> ModelCard:
    """The model's card, or a bare one naming it (a weights file or hub id without a card)."""
    card = read_card(source)
    if card is not None:
        return card
    return ModelCard(kind=kind, version=model_version(source), metrics_data="no card: metrics unknown")


CONFIGURATION = "configuration"  # who serves what the settings name at start


def register_configured_models(db: Database, settings: Settings) -> None:
    """Put the configured models on record at start. The shipped defaults become the served
    version 0 only where nothing is served yet; a model configured explicitly (an environment
    setting) is a deliberate choice and is promoted over whatever was served."""
    for kind, source in (("detector", settings.detector_model), ("condition", settings.condition_model)):
        card = card_of(kind, source)
        served = served_version(db, kind)
        explicit = source != _default(f"{kind}_model")
        if served is None:
            why = "configured at start" if explicit else "the shipped default, served where nothing was"
            record_version(db, card, source, ModelStatus.SERVED, actor=CONFIGURATION, reason=why)
        elif explicit and served.name != card.version:
            record_version(db, card, source)
            serve(db, kind, card.version, CONFIGURATION, "configured at start")


def open_store_if_present(settings: Settings) -> Database | None:
    """The store, if one exists (a configured server, or the SQLite file in the data dir); a
    command line that only reads from it should not create one."""
    url = database_url(settings) if settings.database_url else None
    if url is None and not (Path(settings.data_dir) / "inspections.sqlite3").is_file():
        return None
    return Database.from_settings(settings)


def _on_this_machine(version: ModelVersion) -> str:
    """The served version's folder here: where it was published, or (published on another
    machine) its copy fetched from the object store; the recorded path when neither exists."""
    if Path(version.folder).exists():
        return version.folder
    fetched = model_folder(version.kind, version.name)
    return str(fetched) if fetched is not None else version.folder


class ModelServer:
    """Hands out the inspector to use for a request. Thread-safe: one load at a time, and a
    request never sees a half-swapped pair."""

    def __init__(self, settings: Settings, db: Database | None = None, inspector: Inspector | None = None) -> None:
        """With a ``db``, serves what its registry records as served; without one, the configured
        models. An ``inspector`` already loaded for the configured models saves loading them."""
        self.settings = settings
        self.db = db
        self._lock = threading.Lock()
        self._inspector = inspector
        self._loaded: ServedFolders | None = self.configured() if inspector is not None else None
        self._failed: ServedFolders | None = None
        self.load_error: str | None = None  # why the served record could not be loaded, if so

    def configured(self) -> ServedFolders:
        return ServedFolders(self.settings.detector_model, self.settings.condition_model)

    def served(self) -> ServedFolders:
        """The folders to serve now: the registry's served versions, else the configured ones."""
        configured = self.configured()
        if self.db is None:
            return configured
        detector, condition = served_version(self.db, "detector"), served_version(self.db, "condition")
        return ServedFolders(
            _on_this_machine(detector) if detector is not None else configured.detector,
            _on_this_machine(condition) if condition is not None else configured.condition,
        )

    def inspector(self) -> Inspector:
        wanted = self.served()
        with self._lock:
            if self._inspector is not None and wanted in (self._loaded, self._failed):
                return self._inspector
            try:
                for kind, folder in (("detector", wanted.detector), ("condition", wanted.condition)):
                    if folder not in (self.settings.detector_model, self.settings.condition_model):
                        if not Path(folder).exists():  # a recorded folder, not a hub id
                            raise FileNotFoundError(f"the served {kind} folder {folder} is missing")
                # Loaded fully before the swap, so a request never sees half of a new pair.
                inspector = Inspector.from_folders(self.settings, wanted.detector, wanted.condition)
            except Exception as exc:
                # A broken or missing served folder must not take the service down: keep serving
                # what works (at start: the configured models), say why, and do not retry until
                # the record changes again.
                self._failed, self.load_error = wanted, f"{type(exc).__name__}: {exc}"
                if self._inspector is None:
                    configured = self.configured()
                    if wanted == configured:
                        raise
                    self._inspector = Inspector.from_folders(self.settings, configured.detector, configured.condition)
                    self._loaded = configured
                return self._inspector
            self._inspector, self._loaded, self._failed, self.load_error = inspector, wanted, None, None
            return inspector
