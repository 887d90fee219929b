"""Dataset analysis: what the labelled data looks like, as JSON, Markdown and PNG plots.

slope train analyze --data ../shared/data/slopes --out reports/analysis
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.spatial import relation_phrase, relations
from core.taxonomy import OBJECT_TYPES, class_name, object_word
from core.types import LabelledPhoto


def _class_of(object_type: str, condition: str | None) -> str:
    return f"{object_type} (condition unknown)" if condition is None else class_name(object_type, condition)


def _readable(name: str) -> str:
    """A class name as people say it: 'slope drain blocked', 'rock toe (condition unknown)'."""
    return name.replace("_", " ")


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {"min": q[0], "q25": q[1], "median": q[2], "q75": q[3], "max": q[4], "mean": float(np.mean(values))}


def analyze(photos: list[LabelledPhoto], provenance: str) -> dict:
    """Every figure the report shows, as plain JSON-able values."""
    splits = sorted({p.split for p in photos})
    per_split = {
        s: Counter(_class_of(o.object_type, o.condition) for p in photos if p.split == s for o in p.objects)
        for s in splits
    }
    types = Counter(o.object_type for p in photos for o in p.objects)
    conditions = Counter(o.condition or "unknown" for p in photos for o in p.objects)
    boxes: dict[str, dict[str, list[float]]] = {
        t: {"cx": [], "cy": [], "w": [], "h": [], "area": []} for t in OBJECT_TYPES
    }
    relation_counts: Counter = Counter()
    cooccurrence = np.zeros((len(OBJECT_TYPES), len(OBJECT_TYPES)), dtype=int)
    for p in photos:
        for o in p.objects:
            x1, y1, x2, y2 = o.box
            stats = boxes[o.object_type]
            stats["cx"].append((x1 + x2) / 2 / p.width)
            stats["cy"].append((y1 + y2) / 2 / p.height)
            stats["w"].append((x2 - x1) / p.width)
            stats["h"].append((y2 - y1) / p.height)
            stats["area"].append((x2 - x1) * (y2 - y1) / (p.width * p.height))
        kinds = [o.object_type for o in p.objects]
        for context, kind in zip(relations(p.boxes, kinds, (p.width, p.height)), kinds, strict=True):
            for r in context.relations:
                relation_counts[f"{object_word(kind)} {relation_phrase(r.relation)} {object_word(r.other_type)}"] += 1
        present = sorted({OBJECT_TYPES.index(k) for k in kinds})
        for i in present:
            for j in present:
                cooccurrence[i, j] += 1
    counts = [types.get(t, 0) for t in OBJECT_TYPES]
    instances = [len(p.objects) for p in photos]
    return {
        "provenance": provenance,
        "photos": len(photos),
        "objects": sum(instances),
        "photos_per_split": {s: sum(p.split == s for p in photos) for s in splits},
        "classes_per_split": {s: dict(sorted(c.items())) for s, c in per_split.items()},
        "object_types": {t: types.get(t, 0) for t in OBJECT_TYPES},
        "conditions": dict(sorted(conditions.items())),
        "imbalance_ratio_object_types": (max(counts) / min(counts)) if min(counts) > 0 else None,
        "box_statistics": {t: {k: _quantiles(v) for k, v in s.items()} for t, s in boxes.items()},
        "spatial_relations": dict(relation_counts.most_common()),
        "cooccurrence": {"labels": list(OBJECT_TYPES), "photos_with_both": cooccurrence.tolist()},
        "resolutions": {f"{w}x{h}": n for (w, h), n in Counter((p.width, p.height) for p in photos).most_common()},
        "instances_per_image": {**_quantiles(instances), "histogram": dict(sorted(Counter(instances).items()))},
        "photos_without_objects": sum(n == 0 for n in instances),
    }


def write_report(result: dict, out: Path) -> list[Path]:
    """analysis.json, analysis.md and the PNG plots into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "analysis.json", out / "analysis.md"]
    files[0].write_text(json.dumps(result, indent=2, default=float))
    files += _plots(result, out)
    files[1].write_text(analysis_markdown(result, [f.name for f in files[2:]]))
    return files


def _counts(counts: dict) -> str:
    """{'train': 305, 'val': 45} -> 'train 305, val 45': counts read as text, not a Python dict."""
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def analysis_markdown(r: dict, plots: Sequence[str] = (), heading: bool = True) -> str:
    """The analysis as Markdown: the report file (with its heading and plots) or, without them,
    a section of a page that has its own heading (the Dashboard)."""
    lines = ["# Dataset analysis", ""] if heading else []
    lines += [
        f"Data: {r['provenance']}. {r['photos']} photos, {r['objects']} objects; "
        f"photos per split: {_counts(r['photos_per_split'])}; photos without objects: {r['photos_without_objects']}.",
        "",
        "| Class | " + " | ".join(r["classes_per_split"]) + " |",
        "| --- | " + " | ".join("---" for _ in r["classes_per_split"]) + " |",
    ]
    names = sorted({c for counts in r["classes_per_split"].values() for c in counts})
    for name in names:
        counts = " | ".join(str(c.get(name, 0)) for c in r["classes_per_split"].values())
        lines.append(f"| {_readable(name)} | {counts} |")
    ratio = r["imbalance_ratio_object_types"]
    lines += [
        "",
        f"Object types: {_counts({object_word(t): n for t, n in r['object_types'].items()})}; "
        "imbalance ratio (largest / smallest): " + (f"{ratio:.2f}" if ratio else "n/a (a type has no objects)") + ".",
        f"Conditions: {_counts(r['conditions'])}.",
        "",
        "| Object type | Boxes | Median centre (x, y) | Median size (w x h) | Median area |",
        "| --- | --- | --- | --- | --- |",
    ]
    for t, s in r["box_statistics"].items():
        if s["cx"]:
            lines.append(
                f"| {object_word(t)} | {r['object_types'][t]} | ({s['cx']['median']:.2f}, {s['cy']['median']:.2f}) | "
                f"{s['w']['median']:.2f} x {s['h']['median']:.2f} | {s['area']['median']:.3f} |"
            )
    lines += ["", "Most frequent relations between the labelled boxes of a photo:", ""]
    lines += [f"- {k}: {v}" for k, v in list(r["spatial_relations"].items())[:12]]
    inst = r["instances_per_image"]
    lines += [
        "",
        f"Instances per photo: median {inst.get('median', 0):.0f}, max {inst.get('max', 0):.0f}. "
        f"Resolutions: {_counts(r['resolutions'])}.",
        "",
    ]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _plots(r: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    written = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        written.append(out / name)

    fig, ax = plt.subplots(figsize=(7, 3.5))
    splits = list(r["classes_per_split"])
    names = sorted({c for counts in r["classes_per_split"].values() for c in counts})
    for k, split in enumerate(splits):
        ax.barh(
            np.arange(len(names)) + k * 0.8 / len(splits),
            [r["classes_per_split"][split].get(n, 0) for n in names],
            height=0.8 / len(splits),
            label=split,
        )
    ax.set_yticks(np.arange(len(names)) + 0.4 - 0.4 / len(splits), [_readable(n) for n in names])
    ax.set_xlabel("objects")
    ax.legend()
    ax.set_title("Classes per split")
    save(fig, "classes_per_split.png")

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
    for t, s in r["box_statistics"].items():
        if s["cx"]:
            axes[0].scatter([s["cx"]["median"]], [s["cy"]["median"]], label=object_word(t), s=60)
            axes[1].bar(object_word(t), s["area"]["median"])
    axes[0].set_xlim(0, 1)
    axes[0].set_ylim(1, 0)
    axes[0].set_title("Median box centre (photo coordinates)")
    axes[0].legend(fontsize=7)
    axes[1].set_title("Median box area (fraction of photo)")
    axes[1].tick_params(axis="x", labelrotation=30)
    save(fig, "boxes.png")

    fig, ax = plt.subplots(figsize=(4.5, 4))
    matrix = np.array(r["cooccurrence"]["photos_with_both"])
    ax.imshow(matrix, cmap="Blues")
    labels = [object_word(t) for t in r["cooccurrence"]["labels"]]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8)
    ax.set_title("Photos containing both types")
    save(fig, "cooccurrence.png")

    fig, ax = plt.subplots(figsize=(5, 3))
    histogram = r["instances_per_image"]["histogram"]
    ax.bar([int(k) for k in histogram], list(histogram.values()))
    ax.set_xlabel("objects per photo")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 2.5 objects
    ax.set_ylabel("photos")
    ax.set_title("Objects per photo")
    save(fig, "instances_per_image.png")
    return written
