"""Quantized candidates: a condition model in bitsandbytes 8-bit or 4-bit nf4, measured against
the model it came from on the same held-out examples.

The quantized model is a candidate of its own (``<parent version>+int8``) whose card holds its
size, its speed and how much of the parent's accuracy it keeps. It may be served only when that
retention meets a threshold (default 99%): ``QuantizationResult.servable`` says so, and the
promotion step refuses it otherwise. bitsandbytes runs on CPU (slower than fp32 there, smaller)
and on CUDA.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from core.conditions import ConditionModel, condition_prompt
from core.model_card import read_card
from lifecycle.folders import default_registry, discard, now_iso, publish_candidate, staging_folder
from training.data.examples import ConditionExample, evaluate_conditions

QUANTIZATIONS = ("int8", "nf4")
DEFAULT_MIN_RETENTION = 0.99


@dataclass(frozen=True)
class QuantizationResult:
    folder: Path
    retention: float  # quantized accuracy / parent accuracy on the same held-out examples
    servable: bool  # retention >= the threshold


def folder_bytes(folder: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())


def ms_per_crop(model: ConditionModel, examples: list[ConditionExample], batch: int = 16) -> float:
    """Scoring time per crop, batched as serving batches a photo's crops (after one warm-up batch)."""
    chunk = examples[:batch]
    model.answer_logits([e.crop for e in chunk], [condition_prompt(e.object_type, e.context) for e in chunk])
    started = time.perf_counter()
    for start in range(0, len(examples), batch):
        chunk = examples[start : start + batch]
        model.answer_logits([e.crop for e in chunk], [condition_prompt(e.object_type, e.context) for e in chunk])
    return 1000 * (time.perf_counter() - started) / max(1, len(examples))


def accuracy_retention(parent_accuracy: float, quantized_accuracy: float) -> float:
    """How much of its parent's accuracy a quantized model keeps. A parent right on none of the
    examples has nothing to lose: a quantized model as good keeps it all (1.0), not none."""
    if parent_accuracy <= 0:
        return 1.0
    return quantized_accuracy / parent_accuracy


def quantize_candidate(
    parent: str | Path,
    kind: str,
    held_out: list[ConditionExample],
    held_out_description: str,
    *,
    registry: Path | None = None,
    device: str = "cpu",
    min_retention: float = DEFAULT_MIN_RETENTION,
) -> QuantizationResult:
    """Quantize the condition model in ``parent`` and publish it as a candidate with its card.
    ``held_out_description`` says what the examples are (real or synthesized, how many photos)."""
    if kind not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {kind!r}; use one of {', '.join(QUANTIZATIONS)}")
    if not held_out:
        raise ValueError("quantization needs held-out examples to measure what accuracy it keeps")
    parent_card = read_card(parent)
    if parent_card is None:
        raise ValueError(f"{parent} has no model card: quantize a model folder made by this project")
    registry = Path(registry) if registry is not None else default_registry()
    original = ConditionModel(str(parent), device=device)
    quantized = ConditionModel(str(parent), device=device, quantization=kind)
    before = evaluate_conditions(original, held_out)
    after = evaluate_conditions(quantized, held_out)
    retention = accuracy_retention(before.accuracy, after.accuracy)
    timings = {"ms_per_crop": ms_per_crop(quantized, held_out), "parent_ms_per_crop": ms_per_crop(original, held_out)}

    staging = staging_folder(registry, "condition")
    try:
        quantized.model.save_pretrained(staging)
        quantized.processor.save_pretrained(staging)
        metrics = {k: v for k, v in after.to_dict().items() if k != "model"}
        metrics.update(
            {
                "parent_accuracy": before.accuracy,
                "accuracy_retention": retention,
                "size_bytes": folder_bytes(staging),
                "parent_size_bytes": folder_bytes(parent),
                "memory_bytes": quantized.model.get_memory_footprint(),
                "parent_memory_bytes": original.model.get_memory_footprint(),
                **timings,
            }
        )
        card = parent_card.replace(
            version=f"{parent_card.version}+{kind}",
            parent=parent_card.version,
            created=now_iso(),
            training={"method": f"quantize-{kind}", "device": device, "min_retention": min_retention},
            history=[],
            metrics=metrics,
            metrics_data=held_out_description,
        )
        card.write_readme(staging)  # the folder documents itself wherever it is copied
        folder = publish_candidate(staging, registry, card)
    except BaseException:
        discard(staging)
        raise
    return QuantizationResult(folder, retention, retention >= min_retention)
