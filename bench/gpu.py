"""The real-size condition model on a GPU: Qwen2-VL-2B's configuration with random weights.

    python bench/gpu.py [--out timings.json] [--tiny]

No checkpoint can be downloaded here, so the model is ``Qwen2VLForConditionalGeneration`` built
from the published Qwen2-VL-2B configuration (28 layers of 1536, vision tower of 32 layers of
1280: about 2.2 B parameters) with random weights. Speed and memory do not depend on the weights'
values, so the figures are those of the real checkpoint on the same path; the answers are not.
Inputs come from the app's own processor (``core.conditions``: crops of at most 112x112 px, 16
image tokens) and, for comparison, from crops of 448x448 px (256 image tokens).

Printed, and written to ``--out`` as JSON:
- one-pass label scoring (the app's path: one forward pass, the answer position's logits) per
  crop, bf16 and fp16, batches of 1, 8 and 32;
- a LoRA step (r 8 on the language model's and the vision tower's attention, as
  ``slope train finetune --method lora``) and a full fine-tuning step: time and peak memory;
- int8 and nf4 (bitsandbytes) loading: time, weights' memory, scoring per crop; and a QLoRA step
  on the nf4 model: time and peak memory.

``--tiny`` shrinks the configuration so that the whole script runs on a CPU in a minute: the proof
that it runs end to end before a GPU machine's minutes are spent on it; its figures mean nothing.
Each part catches its own failure, so one broken part still leaves the others' figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.offline import prepare_offline  # noqa: E402

prepare_offline()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor  # noqa: E402

from core.conditions import MAX_PIXELS, MIN_PIXELS, condition_prompt, quantization_config  # noqa: E402
from training.condition.finetune_settings import FinetuneSettings  # noqa: E402
from training.condition.finetune_setup import add_adapters  # noqa: E402
from training.condition.tiny_qwen2vl import build_processor, qwen2vl_config  # noqa: E402

# Qwen2-VL-2B-Instruct's published configuration (config.json of the checkpoint).
TEXT_2B = {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12}
VISION_2B = {"depth": 32, "embed_dim": 1280, "num_heads": 16, "mlp_ratio": 4}
TEXT_TINY = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4}
VISION_TINY = {"depth": 2, "embed_dim": 64, "num_heads": 4, "mlp_ratio": 2}
CROP_SIZES = {"app (<= 112x112 px, 16 image tokens)": MAX_PIXELS, "448x448 px (256 image tokens)": 448 * 448}


def real_size_config(processor, tiny: bool = False) -> Qwen2VLConfig:
    """Qwen2-VL-2B's shape around the app processor's token ids (the ids only name positions)."""
    text, vision = (TEXT_TINY, VISION_TINY) if tiny else (TEXT_2B, VISION_2B)
    mrope = [4, 6, 6] if tiny else [16, 24, 24]  # halves of the head dimension: 128 / 12 heads -> 64
    rope = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": mrope}
    text = {**text, "vocab_size": 151936, "num_key_value_heads": 2, "max_position_embeddings": 32768}
    return qwen2vl_config(processor, {**text, "rms_norm_eps": 1e-6, "rope_parameters": rope}, vision)


def crops_batch(processor, batch: int, max_pixels: int, device: str, seed: int = 0):
    """The app's question about ``batch`` random 640x480 crops, processed at up to ``max_pixels``."""
    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)) for _ in range(batch)]
    processor.image_processor = Qwen2VLImageProcessor(min_pixels=MIN_PIXELS, max_pixels=max_pixels)
    question = condition_prompt("slope_drain", "middle-center of the photo, above a toe drain")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    started = time.perf_counter()
    inputs = processor(text=[text] * batch, images=images, return_tensors="pt", padding=True)
    processing = (time.perf_counter() - started) / batch
    return inputs.to(device), processing


def timed(step: Callable[[], object], device: str, warmup: int = 2, repeats: int = 5) -> float:
    """Mean seconds of ``step`` after ``warmup`` calls, the GPU synchronised around it."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    sync()
    return (time.perf_counter() - started) / repeats


def peak_gib(device: str) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.startswith("cuda") else None


def reset(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def scoring(model, processor, device: str, batches: tuple[int, ...]) -> list[dict]:
    """Milliseconds per crop of one forward pass that keeps only the last position's logits."""
    rows = []
    for name, pixels in CROP_SIZES.items():
        for batch in batches:
            inputs, processing = crops_batch(processor, batch, pixels, device)
            with torch.inference_mode():
                seconds = timed(lambda inputs=inputs: model(**inputs, logits_to_keep=1), device)
            rows.append(
                {
                    "crops": name,
                    "batch": batch,
                    "tokens per crop": int(inputs["input_ids"].shape[1]),
                    "model ms per crop": round(1000 * seconds / batch, 2),
                    "processor ms per crop (CPU)": round(1000 * processing, 2),
                }
            )
    return rows


def train_step(model, processor, device: str, batch: int, trainable) -> dict:
    """One optimizer step on the answer position's cross-entropy: seconds and peak memory."""
    inputs, _ = crops_batch(processor, batch, MAX_PIXELS, device)
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    target = torch.zeros(batch, dtype=torch.long, device=device)

    def step() -> None:
        logits = model(**inputs, logits_to_keep=1).logits[:, -1].float()
        torch.nn.functional.cross_entropy(logits, target).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    reset(device)
    seconds = timed(step, device, warmup=1, repeats=3)
    return {"batch": batch, "seconds per step": round(seconds, 3), "peak GiB": peak_gib(device)}


def with_lora(model):
    """The adapters ``slope train finetune --method lora`` adds (its default settings)."""
    return add_adapters(model, FinetuneSettings(method="lora"))


def part(results: dict, name: str, work: Callable[[], object]) -> None:
    """Run one part; its figures, or its error in words, go into ``results[name]``."""
    started = time.perf_counter()
    try:
        results[name] = work()
    except Exception as exc:  # one part's failure must not cost the others' figures
        traceback.print_exc()
        results[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    print(f"{name} ({time.perf_counter() - started:.0f} s): {json.dumps(results[name])}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="also write the figures here as JSON")
    parser.add_argument("--tiny", action="store_true", help="a tiny configuration: proves the script on a CPU")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device, batches = args.device, ((1, 2) if args.tiny else (1, 8, 32))
    processor = build_processor()
    config = real_size_config(processor, args.tiny)
    results: dict = {"device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"}
    results["torch"] = torch.__version__
    work = Path(tempfile.mkdtemp(prefix="qwen2vl-2b-"))
    try:
        bf16_parts(results, config, processor, device, batches, work / "bf16")
        reset(device)  # the bf16 model is gone with bf16_parts' frame
        for kind in ("int8", "nf4"):
            part(
                results, f"{kind} load and scoring", lambda kind=kind: quantized(work / "bf16", kind, processor, device)
            )
        part(results, "QLoRA step (nf4 base, r 8)", lambda: qlora_step(work / "bf16", processor, device))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


def bf16_parts(results: dict, config, processor, device: str, batches: tuple[int, ...], saved: Path) -> None:
    """The model with random weights: scoring (bf16, fp16), a LoRA and a full step; saved to
    ``saved`` for the quantized loads."""
    torch.manual_seed(0)
    started = time.perf_counter()
    model = Qwen2VLForConditionalGeneration(config).to(torch.bfloat16).to(device).eval()
    results["parameters"] = sum(p.numel() for p in model.parameters())
    results["build seconds (random weights)"] = round(time.perf_counter() - started, 1)
    results["bf16 weights GiB"] = round(model.get_memory_footprint() / 2**30, 2)
    part(results, "scoring bf16", lambda: scoring(model, processor, device, batches))
    model.save_pretrained(saved)
    if device.startswith("cuda"):
        model.to(torch.float16)
        part(results, "scoring fp16", lambda: scoring(model, processor, device, batches))
        model.to(torch.bfloat16)
    model.train()

    def lora_step() -> dict:
        lora = with_lora(model)
        try:
            return train_step(lora, processor, device, 8, [p for p in lora.parameters() if p.requires_grad])
        finally:
            lora.unload()  # the plain model again, for the full step

    part(results, "LoRA step (r 8, bf16 base)", lora_step)
    reset(device)
    model.requires_grad_(True)  # peft froze the base weights
    part(
        results,
        "full fine-tuning step (bf16, AdamW)",
        lambda: train_step(model, processor, device, 8, list(model.parameters())),
    )


def quantized(folder: Path, kind: str, processor, device: str) -> dict:
    reset(device)
    started = time.perf_counter()
    model = Qwen2VLForConditionalGeneration.from_pretrained(
        folder, dtype=torch.bfloat16, quantization_config=quantization_config(kind), device_map=device
    ).eval()
    loaded = time.perf_counter() - started
    try:
        return {
            "load seconds": round(loaded, 1),
            "weights GiB": round(model.get_memory_footprint() / 2**30, 2),
            "scoring": scoring(model, processor, device, (1, 8)),
        }
    finally:
        del model
        reset(device)


def qlora_step(folder: Path, processor, device: str) -> dict:
    from peft import prepare_model_for_kbit_training

    reset(device)
    model = Qwen2VLForConditionalGeneration.from_pretrained(
        folder, dtype=torch.bfloat16, quantization_config=quantization_config("nf4"), device_map=device
    )
    model = with_lora(prepare_model_for_kbit_training(model, use_gradient_checkpointing=False))
    try:
        return train_step(model, processor, device, 8, [p for p in model.parameters() if p.requires_grad])
    finally:
        del model
        reset(device)


if __name__ == "__main__":
    sys.exit(main())
