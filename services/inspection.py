"""The one way many photos are inspected: sources in, each result handed to sinks.

The Inspect tab, ``slope inspect`` and surveys all call ``inspect_batch``; they differ
only in their sinks (store, drawings, CSV, JSON, printed lines). A photo that cannot be read, a
model error on one photo, or a sink that fails on one photo becomes a message for that photo:
the batch goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from PIL import Image

from core.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from core.pipeline import Inspector
from core.sources import PhotoSource
from core.types import Inspection
from services.errors import ServiceError, plain_reason
from storage.errors import StoreBusy

# progress(done, total, name of the photo just finished)
Progress = Callable[[int, int, str], None]
# previous(photo bytes, model versions) -> the stored inspection of those bytes by those models
Previous = Callable[[bytes, dict[str, str]], Inspection | None]


@dataclass(frozen=True)
class PhotoOutcome:
    """One source after inspection: ``inspection`` and ``image`` when it worked, else ``error``."""

    source: PhotoSource
    data: bytes | None = None
    image: Image.Image | None = None
    inspection: Inspection | None = None
    error: str | None = None
    reused: bool = False  # the inspection was found stored (same bytes, same model versions)

    @property
    def name(self) -> str:
        return self.source.name


class Sink(Protocol):
    """Receives every outcome, in order. ``purpose`` names it in a failure message
    ("saving to the store")."""

    purpose: str

    def add(self, outcome: PhotoOutcome) -> None: ...


@dataclass
class BatchResult:
    inspected: int = 0
    reused: int = 0  # of the inspected, how many were already done and not inspected again
    failed: int = 0
    problems: list[str] = field(default_factory=list)  # one line per photo or sink that failed


@dataclass(frozen=True)
class LoadLimits:
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES


class BadThreshold(ServiceError, ValueError):
    title = "Detector confidence threshold"


def checked_threshold(conf: float | None) -> float | None:
    """``conf`` if it is a threshold (a number from 0 to 1, or None: the served model's own);
    ``BadThreshold`` otherwise (NaN passed every range check the models make, then failed each
    photo with a vague server error)."""
    if conf is not None and not (isinstance(conf, int | float) and 0 <= conf <= 1):
        raise BadThreshold(f"The detector confidence threshold must be a number from 0 to 1, not {conf!r}.")
    return conf


def inspect_batch(
    sources: Sequence[PhotoSource],
    inspector: Inspector,
    sinks: Iterable[Sink],
    *,
    conf: float | None = None,
    limits: LoadLimits = LoadLimits(),
    progress: Progress | None = None,
    previous: Previous | None = None,
) -> BatchResult:
    """Load, inspect and hand on every source, all with one ``inspector``: a promotion reaches
    the next batch, never the middle of one. ``previous(data, models)`` may return a stored
    inspection of the same bytes by the same model versions: that photo is not inspected again."""
    checked_threshold(conf)  # before any photo: a bad one would fail every photo alike
    sinks = list(sinks)
    result = BatchResult()
    # A sink that found the store busy (after waiting for it) is not asked again in this batch:
    # every later photo would wait as long. The results still show; a second run stores them.
    busy: dict[int, int] = {}  # sink index -> photos it did not get
    for done, source in enumerate(sources, 1):
        outcome = _inspect_one(source, inspector, conf, limits, previous)
        if outcome.error is None:
            result.inspected += 1
            result.reused += outcome.reused
        else:
            result.failed += 1
            result.problems.append(outcome.error)
        for index, sink in enumerate(sinks):
            if index in busy:
                busy[index] += 1
                continue
            try:
                sink.add(outcome)
            except Exception as exc:  # the photo's result stands; the message says what is missing
                result.problems.append(f"{source.name}: inspected, but {sink.purpose} failed: {plain_reason(exc)}")
                if isinstance(exc, StoreBusy):
                    busy[index] = 0
        if progress is not None:
            progress(done, len(sources), source.name)
    for index, skipped in busy.items():
        if skipped:
            result.problems.append(
                f"{skipped} later photos: inspected, but {sinks[index].purpose} was not tried (the store was busy); "
                "hand in the same photos again to save them (those saved already are not inspected twice)"
            )
    return result


def _inspect_one(
    source: PhotoSource, inspector: Inspector, conf: float | None, limits: LoadLimits, previous: Previous | None
) -> PhotoOutcome:
    try:
        data = source.read()
        image = load_image(data, name=source.name, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes)
    except ImageLoadError as exc:
        return PhotoOutcome(source, error=str(exc))
    except OSError as exc:
        return PhotoOutcome(source, error=f"{source.name}: could not be read ({exc})")
    # A stored result is only the same result at the serving threshold (it was made there).
    serving_threshold = conf is None or conf == inspector.detector.conf
    done = previous(data, inspector.models) if previous is not None and serving_threshold else None
    if done is not None:
        return PhotoOutcome(source, data, image, done, reused=True)
    try:
        inspection = inspector.inspect(image, conf=conf)
    except Exception as exc:  # a model failure on one photo must not end a survey
        return PhotoOutcome(
            source, data=data, image=image, error=f"{source.name}: inspection failed: {plain_reason(exc)}"
        )
    made_at = datetime.now(UTC).isoformat(timespec="seconds")  # the page's, the store's and the reports' time
    return PhotoOutcome(source, data, image, replace(inspection, inspected_at=made_at))
