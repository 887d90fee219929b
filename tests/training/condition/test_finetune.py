"""Fine-tuning the shipped condition model for a few steps on real crops with real conditions:
the candidate each method publishes, what LoRA trains and merges, the weighted answer loss,
cancellation, refused settings, and a parent folder left as it was."""

import hashlib

import pytest
import torch
from PIL import Image

from core.conditions import ConditionModel
from core.model_card import read_card
from core.settings import PROJECT_ROOT
from lifecycle.folders import TrainingCancelled
from training.condition.finetune import finetune_condition_model, merge
from training.condition.finetune_loop import answer_loss, fit
from training.condition.finetune_settings import DEFAULT_TARGET_MODULES, FinetuneSettings
from training.condition.finetune_setup import resolve_class_weights, set_up
from training.data.dataset import from_yolo_folder
from training.data.examples import ConditionExample, answer_batch, crops_from_photos, evaluate_conditions

PARENT = PROJECT_ROOT / "models" / "condition"
CONDITIONS_DATA = PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"


def real_examples(split: str, photos: int, count: int) -> list[ConditionExample]:
    crops = crops_from_photos(from_yolo_folder(CONDITIONS_DATA, split)[:photos], 0.15)
    return [ConditionExample(Image.fromarray(c.crop), c.object_type, c.context, c.condition) for c in crops][:count]


@pytest.fixture(scope="module")
def train_examples() -> list[ConditionExample]:
    return real_examples("train", 5, 10)


@pytest.fixture(scope="module")
def held_out() -> list[ConditionExample]:
    return real_examples("val", 2, 6)


def quick(**changes) -> FinetuneSettings:
    return FinetuneSettings(**({"steps": 2, "batch_size": 4, "eval_every": 1, "warmup_steps": 1} | changes))


def folder_digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def parent_weights() -> dict[str, torch.Tensor]:
    from transformers import Qwen2VLForConditionalGeneration

    return Qwen2VLForConditionalGeneration.from_pretrained(PARENT, dtype=torch.float32).state_dict()


@pytest.mark.parametrize("method", ["lora", "full"])
def test_each_method_publishes_a_loadable_candidate_with_its_card(method, train_examples, held_out, tmp_path):
    registry = tmp_path / "registry"
    before = folder_digest(PARENT)
    calls = []
    folder = finetune_condition_model(
        PARENT,
        train_examples,
        held_out,
        quick(method=method),
        registry=registry,
        data_provenance="real conditions, labelled by the source authors",
        held_out_description=f"{len(held_out)} val crops with real conditions",
        progress=lambda step, total, values: calls.append((step, total, values)),
    )
    card, parent_card = read_card(folder), read_card(PARENT)
    assert folder == registry / "condition" / card.version and card.version.startswith(f"condition-{method}-")
    assert [p.name for p in (registry / "condition").iterdir()] == [card.version]  # no staging folder left
    assert card.parent == parent_card.version and card.crop_margin == parent_card.crop_margin
    assert card.training["method"] == method and card.training["steps"] == 2
    assert 0 < card.training["trainable_parameters"] <= card.training["total_parameters"]
    assert card.train_settings["method"] == method and card.data_hash.startswith("sha256:")
    assert card.metrics["examples"] == len(held_out) and "real conditions" in card.metrics_data
    assert [h["step"] for h in card.history] == [0, 1, 2] and "loss" in card.history[-1]
    assert [(s, t) for s, t, _ in calls] == [(1, 2), (2, 2)]
    assert all("loss" in v and "held_out_accuracy" in v for _, _, v in calls)

    # Served as the app serves it, the saved candidate answers as the merged model did.
    served = ConditionModel(str(folder))
    report = evaluate_conditions(served, held_out)
    assert (served.version, served.crop_margin) == (card.version, parent_card.crop_margin)
    assert report.accuracy == card.metrics["accuracy"] and report.macro_f1 == pytest.approx(card.metrics["macro_f1"])
    # Its probabilities are calibrated on the held-out examples (training/condition/calibrate.py).
    assert served.temperature == card.temperature > 0 and "ece_uncalibrated" in card.metrics
    assert "ECE after temperature scaling" in card.metrics_data
    assert folder_digest(PARENT) == before  # the parent is only read


def test_lora_trains_only_adapters_on_both_towers_and_merges_into_the_targets(train_examples, held_out):
    run = set_up(PARENT, quick(), "condition-lora-test")
    names = [name for name, p in run.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in name for name in names)
    for target in DEFAULT_TARGET_MODULES:
        assert any(f".{target}.lora_A" in name for name in names), target
    assert any("visual.blocks" in name and "attn.qkv.lora_A" in name for name in names)
    assert any("visual.blocks" in name and "attn.proj.lora_B" in name for name in names)
    total = sum(p.numel() for p in run.model.parameters())
    assert 0 < run.trainable_parameters < total

    fit(run, train_examples, held_out, quick())
    parent = parent_weights()
    base = {n.replace(".base_layer", ""): p for n, p in run.model.state_dict().items() if "lora_" not in n}
    assert all(torch.equal(base[n], parent[n]) for n in parent)  # the base stayed frozen
    assert any(p.abs().sum() > 0 for n, p in run.model.named_parameters() if "lora_B" in n)

    merged = merge(run).model.state_dict()
    assert set(merged) == set(parent)  # a plain Qwen2-VL again, no adapter weights left
    changed = {n for n in parent if not torch.equal(merged[n], parent[n])}
    assert changed and all(n.endswith(".weight") for n in changed)
    assert any("visual" in n and "attn.qkv" in n for n in changed)
    assert not any("mlp" in n for n in changed)  # modules without adapters are untouched


def test_full_trains_every_parameter(train_examples, held_out):
    run = set_up(PARENT, quick(method="full", steps=1), "condition-full-test")
    assert run.peft_model is None
    assert run.trainable_parameters == sum(p.numel() for p in run.model.parameters())


def test_a_frozen_vision_tower_stays_as_distilled_while_the_language_model_learns(train_examples, held_out):
    run = set_up(PARENT, quick(method="full", vision_lr_scale=0.0), "condition-full-frozen-test")
    fit(run, train_examples, held_out, quick(method="full", vision_lr_scale=0.0))
    parent, trained = parent_weights(), run.model.state_dict()
    vision = [n for n in parent if n.startswith("model.visual.")]
    assert vision and all(torch.equal(trained[n], parent[n]) for n in vision)
    assert any(not torch.equal(trained[n], parent[n]) for n in parent if n.startswith("model.language_model."))
    assert run.trainable_parameters == sum(p.numel() for n, p in run.model.named_parameters() if n not in vision)


def test_a_scaled_vision_rate_moves_the_tower_less(train_examples, held_out):
    """Same data, same steps: the tower trained at a tenth of the rate drifts less from the parent."""

    def vision_drift(scale: float) -> float:
        settings = quick(method="full", vision_lr_scale=scale, steps=3)
        run = set_up(PARENT, settings, "condition-full-scale-test")
        fit(run, train_examples, held_out, settings)
        parent, trained = parent_weights(), run.model.state_dict()
        return sum((trained[n] - parent[n]).abs().sum().item() for n in parent if n.startswith("model.visual."))

    assert 0 < vision_drift(0.1) < vision_drift(1.0)


def test_the_batch_labels_only_the_answer_tokens(train_examples):
    run = set_up(PARENT, quick(method="full"), "v")
    batch = train_examples[:3]
    inputs, labels = answer_batch(run.scorer, batch)
    tokenizer = run.processor.tokenizer
    for row, example in enumerate(batch):
        answer = labels[row][labels[row] != -100]
        assert tokenizer.decode(answer) == example.condition + "<|im_end|>"
        assert inputs["input_ids"][row, -1] == tokenizer.convert_tokens_to_ids("<|im_end|>")  # left padded


def test_answer_loss_averages_each_row_then_weights_the_rows():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)  # [B, T, V]
    labels = torch.full((2, 5), -100)
    labels[0, 4] = 3  # one answer token, predicted at position 3
    labels[1, 3:] = torch.tensor([1, 2])  # two answer tokens
    row0 = torch.nn.functional.cross_entropy(logits[0, 3:4], labels[0, 4:5])
    row1 = torch.nn.functional.cross_entropy(logits[1, 2:4], labels[1, 3:5])
    plain = answer_loss(logits, labels)
    assert plain == pytest.approx(((row0 + row1) / 2).item(), rel=1e-5)
    weighted = answer_loss(logits, labels, torch.tensor([1.0, 3.0]))
    assert weighted == pytest.approx(((row0 + 3 * row1) / 4).item(), rel=1e-5)
    assert weighted != pytest.approx(plain.item())  # weights change the loss of the same batch
    assert answer_loss(logits, labels, torch.tensor([2.0, 2.0])) == pytest.approx(plain.item())


def test_a_teacher_row_learns_the_teachers_probabilities_and_the_others_their_answer():
    """The answer's first token of a taught row is pulled toward the teacher's probabilities over
    the condition tokens (not toward one answer); a row without a teacher keeps its cross-entropy."""
    torch.manual_seed(0)
    labels = torch.full((2, 5), -100)
    labels[:, 3:] = torch.tensor([2, 6])  # answer: condition token 2, then the end token
    condition_ids = [1, 2, 4]
    teacher = torch.tensor([[0.2, 0.5, 0.3], [float("nan")] * 3])
    logits = torch.zeros(2, 5, 7, requires_grad=True)
    optimizer = torch.optim.SGD([logits], lr=1.0)
    for _ in range(300):
        optimizer.zero_grad()
        answer_loss(logits, labels, None, teacher, condition_ids).backward()
        optimizer.step()
    taught = logits[0, 2, condition_ids].softmax(-1)
    assert taught.detach().numpy() == pytest.approx([0.2, 0.5, 0.3], abs=0.01)
    assert logits[1, 2].softmax(-1)[2] > 0.95  # the plain row learned its single answer
    # The end token is learned in both rows alike.
    assert logits[0, 3].softmax(-1)[6] > 0.95 and logits[1, 3].softmax(-1)[6] > 0.95
    fresh = torch.randn(2, 5, 7)
    only_plain = answer_loss(fresh[1:], labels[1:])
    mixed = answer_loss(fresh, labels, None, teacher, condition_ids)
    divergence = answer_loss(fresh[:1], labels[:1], None, teacher[:1], condition_ids)
    assert mixed == pytest.approx(((only_plain + divergence) / 2).item(), rel=1e-5)


def test_class_weights_from_frequency_or_given(train_examples):
    blank = Image.new("RGB", (8, 8))
    examples = [ConditionExample(blank, "slope_drain", "", c) for c in ("normal", "normal", "normal", "blocked")]
    weights = resolve_class_weights(examples)
    assert weights["slope_drain_blocked"] == pytest.approx(3 * weights["slope_drain"])
    # scaled so the mean weight over the examples is 1: 3 normal + 1 blocked
    assert 3 * weights["slope_drain"] + weights["slope_drain_blocked"] == pytest.approx(4)
    given = resolve_class_weights(examples, {"blocked": 2.0, "slope_drain": 0.5})
    assert given == {"slope_drain": 0.5, "slope_drain_blocked": 2.0}
    with pytest.raises(ValueError, match="'blocked' must be 0 or more, got -1"):
        resolve_class_weights(examples, {"blocked": -1})


def test_cancelling_raises_and_leaves_nothing(train_examples, held_out, tmp_path):
    registry = tmp_path / "registry"
    before = folder_digest(PARENT)
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) >= 2  # let one step run, stop before the second

    with pytest.raises(TrainingCancelled, match="step 2 of 3"):
        finetune_condition_model(
            PARENT, train_examples, held_out, quick(steps=3), registry=registry, should_stop=should_stop
        )
    assert not registry.exists()
    assert folder_digest(PARENT) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "qlora"}, "method must be one of .* got 'qlora'"),
        ({"r": 0}, "r must be positive, got 0"),
        ({"alpha": -1}, "alpha must be positive, got -1"),
        ({"learning_rate": 0.0}, "learning_rate must be positive, got 0.0"),
        ({"steps": 0}, "steps must be positive, got 0"),
        ({"batch_size": -2}, "batch_size must be positive, got -2"),
        ({"grad_accumulation": 0}, "grad_accumulation must be positive, got 0"),
        ({"eval_every": 0}, "eval_every must be positive, got 0"),
        ({"epochs": 0}, "epochs must be positive .* got 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"vision_lr_scale": 1.5}, r"vision_lr_scale must be in \[0, 1\], got 1.5"),
        ({"target_modules": ()}, "lora needs at least one target module"),
        ({"device": "gpu"}, "device must be 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
        ({"dtype": "float64"}, "dtype must be one of .* got 'float64'"),
        ({"dtype": "float16"}, "dtype 'float16' needs a CUDA device; on cpu use float32"),
        ({"dtype": "bfloat16"}, "dtype 'bfloat16' needs a CUDA device"),
    ],
)
def test_bad_settings_are_refused_naming_the_value(changes, message):
    with pytest.raises(ValueError, match=message):
        FinetuneSettings(**changes)


def test_settings_document_every_field_and_default_the_learning_rate_per_method():
    from dataclasses import fields

    assert all(f.metadata.get("help") for f in fields(FinetuneSettings))
    assert FinetuneSettings(method="lora").learning_rate > FinetuneSettings(method="full").learning_rate
    assert FinetuneSettings(learning_rate=0.01).learning_rate == 0.01


def test_a_target_that_matches_nothing_is_refused():
    with pytest.raises(ValueError, match="target module 'attn.qvk' matches no module"):
        set_up(PARENT, quick(target_modules=("q_proj", "attn.qvk")), "v")


def test_epochs_set_the_number_of_steps(train_examples, held_out):
    run = set_up(PARENT, quick(method="full"), "v")
    settings = quick(method="full", epochs=1, batch_size=5, eval_every=100)
    fit(run, train_examples, held_out, settings)
    assert len(train_examples) == 10 and run.steps == 2  # 10 examples, 5 per step


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("method", "dtype"), [("lora", "bfloat16"), ("full", "float16")])
def test_half_precision_on_cuda_publishes_a_loadable_candidate(method, dtype, train_examples, held_out, tmp_path):
    folder = finetune_condition_model(
        PARENT, train_examples, held_out, quick(method=method, device="cuda", dtype=dtype), registry=tmp_path
    )
    served = ConditionModel(str(folder), device="cuda")
    assert evaluate_conditions(served, held_out).examples == len(held_out)
