"""A tiny Qwen2-VL built offline: the real ``Qwen2VLForConditionalGeneration`` architecture in a
small configuration, with a byte-level BPE tokenizer trained here and a ``Qwen2VLProcessor``.

Nothing is downloaded: the tokenizer learns from a corpus of our own prompts, the weights start
random (seeded) and are then trained by ``training.condition.build``.
"""

from __future__ import annotations

import itertools

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

from core.conditions import MAX_PIXELS, MIN_PIXELS, condition_prompt
from core.taxonomy import CONDITIONS, OBJECT_TYPES

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL-Instruct's own chat template, so prompts look the same to the tiny and the real model.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen2's pre-tokenizer split: contractions, words, single digits, punctuation runs, spaces.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

EXTRA_CORPUS = """The drain is clear and water can flow. Sediment, soil and debris fill the channel.
Plants and grass grow inside the drain. The concrete is cracked, broken or missing in places.
Rocks of the rock toe are displaced or have rolled away. The slope is covered with vegetation.
A toe drain runs along the foot of the slope; slope drains run down the slope into it.
The photo shows an embankment from a drone. Describe the condition of the object."""


def _corpus() -> list[str]:
    bands = [f"{v}-{h}" for v in ("top", "middle", "bottom") for h in ("left", "center", "right")]
    lines = [EXTRA_CORPUS, *CONDITIONS, *(f"{c}<|im_end|>" for c in CONDITIONS)]
    for object_type, band in itertools.product(OBJECT_TYPES, bands):
        lines.append(condition_prompt(object_type, f"{band} of the photo, above a toe drain"))
    return lines * 20


def build_tokenizer(vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Byte-level BPE with Qwen2's split rule and special tokens, trained on our prompt corpus."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=SPECIAL_TOKENS[1:],
        padding_side="left",
        model_max_length=4096,
    )


def build_processor(vocab_size: int = 1024) -> Qwen2VLProcessor:
    tokenizer = build_tokenizer(vocab_size)
    image_processor = Qwen2VLImageProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    video_processor = Qwen2VLVideoProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    return Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def qwen2vl_config(processor: Qwen2VLProcessor, text: dict, vision: dict) -> Qwen2VLConfig:
    """A ``Qwen2VLConfig`` of these language-model (``text``) and vision-tower (``vision``) sizes,
    its special tokens those of ``processor``'s tokenizer; patches of 14 px merged 2x2, as Qwen2-VL's."""
    ids = {t: processor.tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    return Qwen2VLConfig(
        text_config={
            **text,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            **vision,
            "hidden_size": text["hidden_size"],
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def build_model(processor: Qwen2VLProcessor, seed: int = 0) -> Qwen2VLForConditionalGeneration:
    """Random-initialised tiny Qwen2-VL (~2 M parameters) matching the processor's tokenizer."""
    tokenizer = processor.tokenizer
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    hidden, heads = 128, 4
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": 4 * hidden,
        "num_hidden_layers": 2,
        "num_attention_heads": heads,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        # mrope sections (temporal, height, width) sum to half the head dimension.
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
    }
    vision = {"depth": 4, "embed_dim": 128, "num_heads": 4, "mlp_ratio": 2}
    config = qwen2vl_config(processor, text, vision)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.do_sample = False
    return model
