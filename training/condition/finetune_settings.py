"""How a condition model is fine-tuned: the one settings dataclass the fine-tune, the Train tab's
job and ``slope train finetune`` share (each field's help is the option's --help)."""

from __future__ import annotations

from dataclasses import dataclass, field

METHODS = ("lora", "full")
DTYPES = ("float32", "float16", "bfloat16")
# Attention of both towers: q/k/v/o_proj exist only in the language model; the vision blocks
# call theirs attn.qkv and attn.proj (peft matches a dotted name as a suffix of the module path).
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "attn.qkv", "attn.proj")
# Per method, because adapters start at zero and need a larger step than weights that already
# work, which a full fine-tune would undo at the same rate.
DEFAULT_LEARNING_RATE = {"lora": 1e-3, "full": 2e-4}


@dataclass
class FinetuneSettings:
    method: str = field(
        default="lora", metadata={"help": "'lora' (adapters, merged at the end) or 'full' (all weights)."}
    )
    r: int = field(default=8, metadata={"help": "LoRA rank: columns of each low-rank update (lora only)."})
    alpha: float = field(default=16.0, metadata={"help": "LoRA scale numerator: updates are scaled by alpha / r."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input, in [0, 1)."})
    target_modules: tuple[str, ...] = field(
        default=DEFAULT_TARGET_MODULES,
        metadata={
            "help": "Module names (or dotted suffixes) that get adapters; each must match a module of the parent. "
            "Default: language-model q/k/v/o_proj and the vision tower's attn.qkv / attn.proj."
        },
    )
    learning_rate: float | None = field(
        default=None,
        metadata={"help": "Peak AdamW learning rate (cosine decay); None: 1e-3 for lora, 2e-4 for full."},
    )
    steps: int = field(default=300, metadata={"help": "Optimizer steps (ignored when epochs is set)."})
    epochs: float | None = field(
        default=None,
        metadata={"help": "Passes over the train examples instead of steps; the run works out its steps."},
    )
    vision_lr_scale: float = field(
        default=1.0,
        metadata={
            "help": "Learning rate of the vision tower's trainable weights relative to the rest (0 freezes them): "
            "a tower distilled from a pretrained teacher keeps what it learned while the language model adapts."
        },
    )
    warmup_steps: int = field(default=20, metadata={"help": "Linear warmup steps before the cosine decay."})
    batch_size: int = field(default=16, metadata={"help": "Examples per forward pass."})
    grad_accumulation: int = field(
        default=1, metadata={"help": "Forward passes per optimizer step (effective batch = batch_size x this)."}
    )
    seed: int = field(default=0, metadata={"help": "Seeds the adapters' init, dropout and the example order."})
    use_class_weights: bool = field(
        default=True,
        metadata={"help": "Weight each example's loss by its class (given weights, or inverse class frequency)."},
    )
    device: str = field(default="cpu", metadata={"help": "'cpu' or a CUDA device ('cuda', 'cuda:1')."})
    dtype: str = field(
        default="float32",
        metadata={
            "help": "Compute dtype: float32, or float16 / bfloat16 on CUDA only (autocast; full keeps fp32 "
            "weights, lora keeps the frozen base in this dtype and the adapters in fp32)."
        },
    )
    eval_every: int = field(default=50, metadata={"help": "Steps between held-out evaluations (and at the end)."})

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.learning_rate is None:  # resolved now, so the card records the rate used
            self.learning_rate = DEFAULT_LEARNING_RATE[self.method]
        self.target_modules = tuple(self.target_modules)
        positive = {
            "r": self.r,
            "alpha": self.alpha,
            "learning_rate": self.learning_rate,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "grad_accumulation": self.grad_accumulation,
            "eval_every": self.eval_every,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if self.epochs is not None and not self.epochs > 0:
            raise ValueError(f"epochs must be positive (or None to use steps), got {self.epochs!r}")
        if not 0.0 <= self.vision_lr_scale <= 1.0:
            raise ValueError(f"vision_lr_scale must be in [0, 1], got {self.vision_lr_scale!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be 0 or more, got {self.warmup_steps!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.method == "lora" and not self.target_modules:
            raise ValueError("lora needs at least one target module, got none")
        if not (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.device == "cpu" and self.dtype != "float32":
            # CPU autocast in half precision is slow and float16 training loses small gradients.
            raise ValueError(f"dtype {self.dtype!r} needs a CUDA device; on cpu use float32")
