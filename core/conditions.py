"""The condition model: a Qwen2-VL that gives each detected object a probability per condition.

For each object: a crop with a context margin, a prompt naming its type and where it is, and
the model's next-token distribution after the assistant turn opens. The probability of a
condition is the softmax, over the conditions allowed for that type, of the logits of each
condition word's first token. All crops of a photo go through one batched forward pass (left
padded, so every row's answer position is the last), so labels cost nothing extra. Vegetation
has a single allowed condition and never reaches the model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.model_card import model_version, read_card
from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS, OBJECT_WORDS

if TYPE_CHECKING:
    from transformers import BitsAndBytesConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

# Crops are resized (aspect kept) to between these many pixels: up to 16 image tokens each
# (tokens = pixels / 28^2), which keeps a photo of ten objects to one cheap forward pass.
MIN_PIXELS = 56 * 56
MAX_PIXELS = 112 * 112
BATCH_SIZE = 16
# Context margin around each crop for a checkpoint whose card does not give one (a hub id).
DEFAULT_CROP_MARGIN = 0.15
# The source of the training photos squashed every drone photo to a square of this side (224 for
# some). A model trained on them gets crops cut as if the photo had been squashed the same way: a
# 16:9 photo's objects are otherwise wider, and at full resolution sharper, than any it learned.
TRAINING_PHOTO_SIDE = 312


def condition_prompt(object_type: str, context: str) -> str:
    """The question asked about one object, e.g. 'This is a toe drain, bottom-center of the
    photo, at the foot of a slope drain. Is it normal, blocked or damaged? Answer with one word.'"""
    options = ALLOWED_CONDITIONS[object_type]
    choices = options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]
    return f"This is a {OBJECT_WORDS[object_type]}, {context}. Is it {choices}? Answer with one word."


def describe_prompt(object_type: str, context: str) -> str:
    return f"This is a {OBJECT_WORDS[object_type]}, {context}. Describe its condition."


def card_crop_margin(source: str) -> float:
    """The margin the model was trained with, from its card; the default for a card-less one."""
    card = read_card(source)
    return card.crop_margin if card is not None and card.crop_margin is not None else DEFAULT_CROP_MARGIN


def card_photo_side(source: str) -> int | None:
    """The square the model's training photos were squashed to, from its card; None (crops as
    they are) for a card-less checkpoint or one whose card does not say."""
    card = read_card(source)
    return card.photo_side if card is not None else None


def card_temperature(source: str) -> float:
    """The temperature the model's probabilities are calibrated with, from its card; 1 without one."""
    card = read_card(source)
    return card.temperature if card is not None and card.temperature else 1.0


def tempered_softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities from answer logits divided by ``temperature`` (1: as the model gives them)."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    z = np.exp(z - z.max())
    return z / z.sum()


def crop_bounds(size: tuple[int, int], box: Sequence[float], margin: float) -> tuple[int, int, int, int]:
    """The box grown by ``margin`` of its size on each side, clipped to a photo of ``size``
    (width, height), in whole pixels. The model sees the ground around a drain as well."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(0, int(x1 - dx)), max(0, int(y1 - dy))
    right, bottom = min(size[0], int(np.ceil(x2 + dx))), min(size[1], int(np.ceil(y2 + dy)))
    if right - left < 2 or bottom - top < 2:
        raise ValueError(f"box {list(box)} is empty inside a {size[0]}x{size[1]} photo")
    return left, top, right, bottom


def crop_with_margin(image: Image.Image, box: Sequence[float], margin: float) -> Image.Image:
    return image.crop(crop_bounds(image.size, box, margin))


def squash_scale(photo_size: tuple[int, int], photo_side: int | None) -> tuple[float, float]:
    """How much a photo of ``photo_size`` (width, height) is resized each way when squashed to
    the square of ``photo_side`` (never enlarged beyond its longest side); (1, 1) for None."""
    if photo_side is None:
        return 1.0, 1.0
    side = min(photo_side, max(photo_size))
    return side / photo_size[0], side / photo_size[1]


def squashed(crop: Image.Image, photo_size: tuple[int, int], photo_side: int | None) -> Image.Image:
    """A crop of a photo of ``photo_size`` resized as the same part of the photo squashed to
    ``photo_side`` would be: the same pixels as cutting it from the squashed photo, but a box a
    few pixels wide still gives a crop (at least 2 px each way) and only the crop is resized."""
    sx, sy = squash_scale(photo_size, photo_side)
    size = (max(2, round(crop.width * sx)), max(2, round(crop.height * sy)))
    if size == crop.size:
        return crop
    shrinking = size[0] <= crop.width and size[1] <= crop.height
    return crop.resize(size, Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR)


def quantization_config(kind: str) -> BitsAndBytesConfig:
    """bitsandbytes settings for ``int8`` (LLM.int8) or ``nf4`` (4-bit); both also run on CPU.
    bitsandbytes is imported only here, on the quantization path."""
    import warnings

    from transformers import BitsAndBytesConfig

    # 8-bit on CPU warns about a float16 cast on every matmul: expected, and noise in a CLI.
    warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")
    if kind == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    if kind == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
    raise ValueError(f"unknown quantization {kind!r}; use int8 or nf4")


def saved_quantization(source: str) -> str | None:
    """``int8`` or ``nf4`` for a folder saved quantized by bitsandbytes, else None."""
    config = Path(source) / "config.json"
    if not config.is_file():
        return None
    settings = json.loads(config.read_text()).get("quantization_config") or {}
    if settings.get("load_in_8bit"):
        return "int8"
    if settings.get("load_in_4bit"):
        return "nf4"
    return None


class ConditionModel:
    """A Qwen2-VL checkpoint (a local folder or a hub id) used as a condition scorer. The crop
    margin and the photos' squashed side come from the model's card, so serving crops as
    training did."""

    def __init__(self, source: str, device: str = "cpu", quantization: str | None = None, squash: bool = True) -> None:
        """``squash`` False: crops as cut from the photo even where the card gives a squashed
        side (kept to measure the difference: bench/photo_sizes.py)."""
        import torch
        from transformers import AutoProcessor, Qwen2VLForConditionalGeneration
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a loading bar per model on stderr is noise in a CLI
        processor = AutoProcessor.from_pretrained(source)
        dtype = torch.float32 if device == "cpu" else torch.float16
        if quantization is not None:
            model = Qwen2VLForConditionalGeneration.from_pretrained(
                source, dtype=dtype, quantization_config=quantization_config(quantization), device_map=device
            )
        elif saved_quantization(source):  # a quantized candidate: bitsandbytes places it itself
            model = Qwen2VLForConditionalGeneration.from_pretrained(source, dtype=dtype, device_map=device)
        else:
            model = Qwen2VLForConditionalGeneration.from_pretrained(source, dtype=dtype).to(device)
        version = model_version(source) + (f"+{quantization}" if quantization else "")
        self._setup(model, processor, version, card_crop_margin(source), device)
        self.temperature = card_temperature(source)
        self.photo_side = card_photo_side(source) if squash else None
        self.source = source
        self.quantization = quantization or saved_quantization(source)

    @classmethod
    def from_loaded(
        cls,
        model: Qwen2VLForConditionalGeneration,
        processor: Qwen2VLProcessor,
        version: str,
        crop_margin: float,
        device: str = "cpu",
    ) -> ConditionModel:
        """A scorer around weights already in memory (a model being trained): it scores with
        those very weights, no copy."""
        scorer = cls.__new__(cls)
        scorer._setup(model, processor, version, crop_margin, device)
        scorer.source, scorer.quantization = version, None
        return scorer

    def _setup(self, model, processor, version: str, crop_margin: float, device: str) -> None:
        self.model = model
        self.model.eval()
        self.processor = processor
        self.processor.tokenizer.padding_side = "left"  # every row's answer position is the last
        self.version = version
        self.crop_margin = crop_margin
        self.temperature = 1.0  # probabilities as the logits give them, until a card calibrates them
        self.photo_side: int | None = None  # crops as cut, until a card says the photos were squashed
        self.device = device
        self.condition_token_ids = _first_token_ids(processor.tokenizer)
        self.forward_passes = 0  # counted so tests can check vegetation never reaches the model

    def chat_text(self, prompt: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def classify(
        self,
        image: Image.Image,
        boxes: np.ndarray,
        object_types: Sequence[str],
        contexts: Sequence[str],
    ) -> list[dict[str, float]]:
        """One ``{condition: probability}`` per box, over the conditions allowed for its type."""
        results: list[dict[str, float]] = [{} for _ in object_types]
        to_score = []
        for i, object_type in enumerate(object_types):
            allowed = ALLOWED_CONDITIONS[object_type]
            if len(allowed) == 1:
                results[i] = {allowed[0]: 1.0}
            else:
                to_score.append(i)
        for start in range(0, len(to_score), BATCH_SIZE):
            chunk = to_score[start : start + BATCH_SIZE]
            crops = [self.crop(image, boxes[i]) for i in chunk]
            prompts = [condition_prompt(object_types[i], contexts[i]) for i in chunk]
            logits = self.answer_logits(crops, prompts)
            for row, i in enumerate(chunk):
                results[i] = self.probabilities(logits[row], ALLOWED_CONDITIONS[object_types[i]])
        return results

    def crop(self, image: Image.Image, box: Sequence[float]) -> Image.Image:
        """What the model is shown of one object: the box with the card's margin, squashed as the
        card's training photos were."""
        return squashed(crop_with_margin(image, box, self.crop_margin), image.size, self.photo_side)

    def answer_logits(self, crops: list[Image.Image], prompts: list[str]) -> np.ndarray:
        """Next-token logits at the answer position for each (crop, prompt): (n, vocab)."""
        import torch

        texts = [self.chat_text(p) for p in prompts]
        inputs = self.processor(text=texts, images=crops, return_tensors="pt", padding=True)
        inputs = inputs.to(self.device)
        with torch.inference_mode():
            out = self.model(**inputs, logits_to_keep=1, use_cache=False)
        self.forward_passes += 1
        return out.logits[:, -1, :].float().cpu().numpy()  # [B, vocab]

    def answer_scores(self, logits: np.ndarray, allowed: Sequence[str]) -> np.ndarray:
        """The allowed conditions' first-token logits, in ``allowed``'s order (one row of answer_logits)."""
        return np.array([logits[self.condition_token_ids[c]] for c in allowed], dtype=np.float64)

    def probabilities(self, logits: np.ndarray, allowed: Sequence[str]) -> dict[str, float]:
        """Softmax over the allowed conditions of their first-token logits (one row of
        answer_logits), divided by the card's temperature: calibrated probabilities."""
        scores = tempered_softmax(self.answer_scores(logits, allowed), self.temperature)
        return {c: float(p) for c, p in zip(allowed, scores, strict=True)}

    def generate_text(self, crop: Image.Image, prompt: str, max_new_tokens: int = 50, min_new_tokens: int = 0) -> str:
        """Greedy generation for one crop and prompt (no sampling: the same input, the same text).
        ``min_new_tokens`` keeps it from stopping early, to time a full-length answer."""
        import torch

        text = self.chat_text(prompt)
        inputs = self.processor(text=[text], images=[crop], return_tensors="pt").to(self.device)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, do_sample=False
            )
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return self.processor.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


def _first_token_ids(tokenizer) -> dict[str, int]:
    """The first token of each condition word as an answer. Scoring from one forward pass needs
    them distinct; any tokenizer splits 'normal', 'blocked', 'damaged' into different first
    pieces, but a checkpoint with an odd vocabulary is refused here rather than scored wrongly."""
    ids = {c: tokenizer.encode(c, add_special_tokens=False)[0] for c in CONDITIONS}
    if len(set(ids.values())) != len(ids):
        raise ValueError(f"condition words share a first token in this tokenizer: {ids}")
    return ids
