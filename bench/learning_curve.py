"""Do reviewers' corrections make the condition model better, and does the review queue's order
(least certain first) need fewer of them than a random order?

    python bench/learning_curve.py --parent DISTILLED [--round 50 --rounds 6 --seeds 0 1 2 --steps 300]

Simulated reviewers on the real condition labels of ``../shared/data/slope-conditions``. The
photos are split as ``slope train build-condition`` splits them: its held-out photos are the fixed
test set of every round; the objects of its train photos are the pool a reviewer corrects. The
labels of the pool are hidden, then revealed ``--round`` objects at a time in three orders:

- least certain first: the objects the current model (the last round's) is least sure of, as
  the review queue orders them when that model serves;
- random: a shuffle of the pool (one per seed);
- as uploaded: the photos' order in the folder, their objects in label-file order.

After every round the parent is fine-tuned on every object revealed so far (the app's
improvement job: ``finetune_condition_model``, class weights) and scored on the test objects;
the type prior of the same revealed labels is scored beside it.

The parent must not have seen the pool's labels, so it is NOT the shipped model (its teacher was
fitted on the conditions of those train photos): it is the shipped recipe's first stage, the
tiny Qwen2-VL with its vision tower distilled from EfficientNet-Lite0 on photos without condition
labels (``slope train build-condition --keep-distilled DIR``). The shipped model's figures on the
same test objects are printed too, as what the full recipe reaches with every pool label.

Results go to ``--out`` (JSON) after every round, so a long run can be read while it goes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.offline import prepare_offline  # noqa: E402

prepare_offline()

import numpy as np  # noqa: E402

from core.conditions import ConditionModel, tempered_softmax  # noqa: E402
from core.settings import PROJECT_ROOT  # noqa: E402
from training.baselines.type_prior import type_prior_report  # noqa: E402
from training.condition.build import CONDITION_DATA, build_split  # noqa: E402
from training.condition.finetune import finetune_condition_model  # noqa: E402
from training.condition.finetune_settings import FinetuneSettings  # noqa: E402
from training.data.examples import ConditionReport, answer_scores, evaluate_conditions  # noqa: E402

ORDERS = ("least certain first", "random", "as uploaded")
FIGURES = ("accuracy", "macro_f1", "normal_vs_problem")
FIGURE_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "normal_vs_problem": "normal vs problem"}


def uncertainty(model: ConditionModel, examples: list) -> list[float]:
    """The probability the model gives its answer, per example: the queue's certainty."""
    return [float(tempered_softmax(s, model.temperature).max()) for s in answer_scores(model, examples)]


def next_round(order: str, pool: list, revealed: set[int], size: int, model, rng) -> list[int]:
    hidden = [i for i in range(len(pool)) if i not in revealed]
    if order == "as uploaded":
        return hidden[:size]
    if order == "random":
        return [int(i) for i in rng.permutation(hidden)[:size]]
    certainty = uncertainty(model, [pool[i] for i in hidden])
    return [hidden[j] for j in np.argsort(certainty, kind="stable")[:size]]


def figures(report: ConditionReport) -> dict[str, float]:
    return {name: round(float(getattr(report, name)), 4) for name in FIGURES}


def run(args: argparse.Namespace) -> dict:
    dataset = build_split(args.data)
    pool, test = dataset.train, dataset.held_out
    print(
        f"pool: {len(pool)} objects on {len(dataset.train_photos)} photos; test: {len(test)} objects on "
        f"{len(dataset.held_out_photos)} photos",
        flush=True,
    )
    parent = ConditionModel(str(args.parent))
    results: dict = {
        "data": str(args.data),
        "parent": parent.version,
        "pool_objects": len(pool),
        "test_objects": len(test),
        "test_photos": len(dataset.held_out_photos),
        "round_size": args.round,
        "steps": args.steps,
        "method": args.method,
        "seeds": args.seeds,
        "parent_figures": figures(evaluate_conditions(parent, test)),
        "shipped_figures": figures(evaluate_conditions(ConditionModel(str(args.shipped)), test)),
        "curves": [],
    }
    rounds = min(args.rounds, len(pool) // args.round)
    results["curves"] = finished(args, results, rounds)
    with tempfile.TemporaryDirectory(prefix="learning-curve-") as registry:
        for seed in args.seeds:
            for order in ORDERS:
                if any(p["seed"] == seed and p["order"] == order for p in results["curves"]):
                    continue  # done by an earlier run with the same settings
                rng = np.random.default_rng(seed)
                revealed: list[int] = []
                model = parent
                for _ in range(rounds):
                    started = time.time()
                    revealed += next_round(order, pool, set(revealed), args.round, model, rng)
                    shown = [pool[i] for i in revealed]
                    settings = FinetuneSettings(method=args.method, steps=args.steps, seed=seed, eval_every=args.steps)
                    folder = finetune_condition_model(args.parent, shown, test, settings, registry=Path(registry))
                    model = ConditionModel(str(folder))
                    point = {
                        "seed": seed,
                        "order": order,
                        "corrections": len(shown),
                        "model": figures(evaluate_conditions(model, test)),
                        "type_prior": figures(type_prior_report(shown, test)),
                        "seconds": round(time.time() - started, 1),
                    }
                    results["curves"].append(point)
                    print(json.dumps(point), flush=True)
                    args.out.write_text(json.dumps(results, indent=1))
    return results


def finished(args: argparse.Namespace, results: dict, rounds: int) -> list[dict]:
    """The whole curves (every round up to ``rounds``) of an earlier run into ``--out`` with the
    same data, parent and settings: a long run stopped part way goes on where it stopped."""
    if not args.out.is_file():
        return []
    earlier = json.loads(args.out.read_text())
    same = ("data", "parent", "round_size", "steps", "method")
    if any(earlier.get(key) != results[key] for key in same):
        return []
    kept = []
    for seed in args.seeds:
        for order in ORDERS:
            points = [p for p in earlier["curves"] if (p["seed"], p["order"]) == (seed, order)]
            points = [p for p in points if p["corrections"] <= rounds * args.round]
            if len(points) == rounds:
                kept += points
    return kept


def mean(points: list[dict], who: str, figure: str) -> float:
    return statistics.mean(p[who][figure] for p in points)


def table(results: dict) -> str:
    """Markdown: per order and number of corrections, the mean over seeds of each figure,
    the type prior of the same labels beside; then what each order needs to reach the random
    order's final macro-F1."""
    curves = results["curves"]
    counts = sorted({p["corrections"] for p in curves})
    lines = [
        f"Test: {results['test_objects']} real objects on {results['test_photos']} held-out photos; pool "
        f"{results['pool_objects']} objects; parent `{results['parent']}` (no condition label seen); "
        f"{results['method']} fine-tune, {results['steps']} steps per round; mean over seeds "
        f"{sorted({p['seed'] for p in curves})}.",
        "",
        "| order | corrections | accuracy | macro-F1 | normal vs problem | type prior (acc / macro-F1 / n-v-p) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for order in ORDERS:
        for n in counts:
            points = [p for p in curves if p["order"] == order and p["corrections"] == n]
            if not points:
                continue
            model = " | ".join(f"{mean(points, 'model', f):.3f}" for f in FIGURES)
            prior = " / ".join(f"{mean(points, 'type_prior', f):.3f}" for f in FIGURES)
            lines.append(f"| {order} | {n} | {model} | {prior} |")
    for who in ("parent", "shipped"):
        values = results[f"{who}_figures"]
        lines.append(f"| {who} model | - | " + " | ".join(f"{values[f]:.3f}" for f in FIGURES) + " | |")
    random_curve = {n: [p for p in curves if p["order"] == "random" and p["corrections"] == n] for n in counts}
    random_curve = {n: mean(v, "model", "macro_f1") for n, v in random_curve.items() if v}
    if random_curve:
        final_n = max(random_curve)
        target = random_curve[final_n]
        lines += ["", f"Corrections needed to reach the random order's final macro-F1 ({target:.3f} at {final_n}):"]
        for order in ORDERS:
            reached = [
                n
                for n in counts
                if (pts := [p for p in curves if p["order"] == order and p["corrections"] == n])
                and mean(pts, "model", "macro_f1") >= target
            ]
            if reached:
                saved = 1 - reached[0] / final_n
                needed = f"{reached[0]} ({abs(saved):.0%} {'fewer' if saved >= 0 else 'more'} than random)"
            else:
                needed = f"not reached in {final_n}"
            lines.append(f"- {order}: {needed}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parent", type=Path, required=True, help="distilled model folder (no condition seen)")
    parser.add_argument("--shipped", type=Path, default=PROJECT_ROOT / "models" / "condition")
    parser.add_argument("--data", type=Path, default=CONDITION_DATA)
    parser.add_argument("--round", type=int, default=50, help="objects revealed per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps per round")
    parser.add_argument("--method", default="full", choices=("full", "lora"))
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "runs" / "learning-curve.json")
    parser.add_argument("--table", action="store_true", help="print the table of --out and stop")
    args = parser.parse_args()
    if not args.table:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        run(args)
    print(table(json.loads(args.out.read_text())))


if __name__ == "__main__":
    main()
