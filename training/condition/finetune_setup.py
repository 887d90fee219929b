"""Fine-tuning, set up: the parent's weights and processor loaded, adapters injected (lora) or
every weight made trainable (full), and the run's settings resolved (class weights, a data hash
for a caller without one). ``training.condition.finetune`` reads set_up -> fit -> merge -> save.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.conditions import ConditionModel, card_crop_margin
from core.taxonomy import class_name
from training.condition.finetune_settings import FinetuneSettings
from training.data.examples import ConditionExample

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import Qwen2VLForConditionalGeneration


@dataclass
class FinetuneRun:
    """What the loop works on. ``model`` is the Qwen2-VL itself (for lora with adapter layers
    injected in place, so ``scorer`` scores with the weights being trained)."""

    model: Any  # Qwen2VLForConditionalGeneration
    peft_model: Any | None  # the peft wrapper (lora), for merge_and_unload
    processor: Any  # Qwen2VLProcessor
    scorer: ConditionModel
    crop_margin: float
    version: str
    device: str
    dtype: Any  # torch.dtype used for autocast
    trainable_parameters: int
    steps: int = 0  # resolved by fit (settings.steps, or from epochs)
    fit_seconds: float = 0.0


def set_up(parent: str | Path, settings: FinetuneSettings, version: str) -> FinetuneRun:
    """The parent's weights and processor, with adapters (lora) or all weights trainable (full)."""
    import torch
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration
    from transformers.utils import logging as hf_logging

    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {settings.device!r} was asked for but torch sees no CUDA device")
    hf_logging.disable_progress_bar()
    torch.manual_seed(settings.seed)  # adapters' init and dropout
    compute_dtype = getattr(torch, settings.dtype)
    # Full training keeps fp32 master weights (fp16 weights lose small updates); lora may keep the
    # frozen base in the compute dtype, which is what saves memory on a real checkpoint.
    load_dtype = compute_dtype if settings.method == "lora" else torch.float32
    processor = AutoProcessor.from_pretrained(parent)
    model = Qwen2VLForConditionalGeneration.from_pretrained(parent, dtype=load_dtype).to(settings.device)
    peft_model = None
    if settings.method == "lora":
        peft_model = add_adapters(model, settings)
    else:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(settings.vision_lr_scale > 0 or not in_vision_tower(name))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    margin = card_crop_margin(str(parent))
    # Also sets the tokenizer to pad left, which the answer mask in ``answer_batch`` relies on.
    scorer = ConditionModel.from_loaded(model, processor, version, margin, settings.device)
    return FinetuneRun(model, peft_model, processor, scorer, margin, version, settings.device, compute_dtype, trainable)


def in_vision_tower(name: str) -> bool:
    """Whether a parameter name (plain or inside peft's wrapper) belongs to the vision tower."""
    return ".visual." in f".{name}"


def add_adapters(model: Qwen2VLForConditionalGeneration, settings: FinetuneSettings) -> PeftModel:
    """LoRA adapters on ``settings.target_modules``, injected into ``model`` in place; returns
    the peft wrapper. A target that matches no module is refused (peft would skip it silently)."""
    from peft import LoraConfig, get_peft_model

    names = [name for name, _ in model.named_modules()]
    for target in settings.target_modules:
        if not any(name == target or name.endswith("." + target) for name in names):
            raise ValueError(f"target module {target!r} matches no module of the parent model")
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
    )
    return get_peft_model(model, config)


def resolve_class_weights(train: Sequence[ConditionExample], given: dict[str, float] | None = None) -> dict[str, float]:
    """A loss weight per 9-class name present in ``train``. Given weights may name a class or a
    condition (the class wins); classes they leave out weigh 1. Without any: inverse class
    frequency, scaled so the mean weight over the train examples is 1 (the loss keeps its size)."""
    counts = Counter(class_name(e.object_type, e.condition) for e in train)
    if given is not None:
        for key, value in given.items():
            if not value >= 0:
                raise ValueError(f"class weight for {key!r} must be 0 or more, got {value!r}")
        conditions = {class_name(e.object_type, e.condition): e.condition for e in train}
        return {name: float(given.get(name, given.get(conditions[name], 1.0))) for name in sorted(counts)}
    raw = {name: 1.0 / n for name, n in counts.items()}
    mean = sum(raw[name] * n for name, n in counts.items()) / sum(counts.values())
    return {name: raw[name] / mean for name in sorted(counts)}


def examples_hash(examples: Sequence[ConditionExample]) -> str:
    """A content hash of examples (pixels, type, context, condition) for a caller without a data hash."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(e.crop.tobytes() + repr((e.crop.size, e.object_type, e.context, e.condition)).encode())
    return "sha256:" + digest.hexdigest()
