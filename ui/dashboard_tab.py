"""The Dashboard tab: the served models' metrics, how the condition model trained, the model
versions on record, and a dataset analysis of a YOLO folder or of the reviewed labels."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from core.model_info import read_metadata
from core.settings import PROJECT_ROOT, Settings
from storage.db import Database
from storage.repository import model_versions

DEFAULT_DATASET = PROJECT_ROOT.parent / "shared" / "data" / "slopes"


def served_models_markdown(settings: Settings) -> str:
    """What the served models' own metadata says about their quality, with its provenance."""
    lines = ["### Served models"]
    detector = read_metadata(settings.detector_model)
    metrics = detector.get("metrics_val")
    if metrics:
        lines.append(
            f"**Detector** `{detector.get('version', settings.detector_model)}`: val mAP@0.5 "
            f"**{metrics['map50']:.3f}**, mAP@0.5:0.95 **{metrics['map50_95']:.3f}** "
            f"(real val photos, {detector.get('epochs_run', '?')} epochs from scratch)."
        )
        lines.append("| class | precision | recall | mAP@0.5 | mAP@0.5:0.95 |\n| --- | --- | --- | --- | --- |")
        lines += [
            f"| {name} | {v['precision']:.3f} | {v['recall']:.3f} | {v['map50']:.3f} | {v['map50_95']:.3f} |"
            for name, v in metrics["per_class"].items()
        ]
    else:
        lines.append(f"**Detector** `{settings.detector_model}`: no metrics recorded with this checkpoint.")
    condition = read_metadata(settings.condition_model)
    held_out = condition.get("metrics_heldout_synthesized")
    if held_out:
        lines.append(
            f"\n**Condition model** `{condition.get('version', settings.condition_model)}`: held-out accuracy "
            f"**{held_out['accuracy']:.3f}** on {held_out.get('examples', '?')} examples. Data: {held_out['data']}."
        )
    else:
        lines.append(f"\n**Condition model** `{settings.condition_model}`: no metrics recorded with this checkpoint.")
    return "\n".join(lines)


def training_plots(settings: Settings) -> list[tuple[str, str]]:
    """PNG files: the condition model's held-out accuracy over training and its confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.evaluate import _confusion_plot

    out = Path(tempfile.mkdtemp(prefix="dashboard-"))
    plots = []
    condition = read_metadata(settings.condition_model)
    history = condition.get("history", [])
    if history:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot([h["step"] for h in history], [h["val_accuracy"] for h in history], marker="o")
        ax.set_xlabel("training step")
        ax.set_ylabel("held-out accuracy (synthesized)")
        ax.set_title("Condition model training")
        fig.tight_layout()
        fig.savefig(out / "condition_training.png", dpi=90)
        plt.close(fig)
        plots.append((str(out / "condition_training.png"), "Condition model: held-out accuracy by step"))
    held_out = condition.get("metrics_heldout_synthesized", {})
    if "confusion" in held_out and "labels" in held_out["confusion"]:
        path = _confusion_plot({"model": condition.get("version", ""), **held_out}, out / "confusion.png")
        plots.append((str(path), "Condition model: confusion matrix (synthesized held-out conditions)"))
    detector_log = Path(settings.detector_model) / "training_log.csv"
    if detector_log.is_file():
        import csv

        rows = list(csv.DictReader(detector_log.open()))
        fig, ax = plt.subplots(figsize=(5, 3))
        epochs = [int(r["epoch"]) for r in rows]
        ax.plot(epochs, [float(r["metrics/mAP50(B)"]) for r in rows], label="mAP@0.5")
        ax.plot(epochs, [float(r["metrics/mAP50-95(B)"]) for r in rows], label="mAP@0.5:0.95")
        ax.set_xlabel("epoch")
        ax.set_title("Detector training (val)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "detector_training.png", dpi=90)
        plt.close(fig)
        plots.append((str(out / "detector_training.png"), "Detector: val mAP by epoch"))
    return plots


def analysis_view(source: str, settings: Settings) -> tuple[str, list[tuple[str, str]]]:
    from training.analysis import analyze, write_report
    from training.dataset import load

    try:
        photos, provenance = load(source.strip() or "db", None, settings)
    except (FileNotFoundError, ValueError, OSError) as exc:
        return f"Cannot analyse {source!r}: {exc}", []
    if not photos:
        return f"No labelled photos in {source!r}.", []
    out = Path(tempfile.mkdtemp(prefix="analysis-"))
    files = write_report(analyze(photos, provenance), out)
    markdown = (out / "analysis.md").read_text().split("\n![")[0]
    return markdown, [(str(f), f.stem.replace("_", " ")) for f in files if f.suffix == ".png"]


def versions_rows(db: Database | None) -> list[list]:
    if db is None:
        return []
    return [
        [v.kind, v.name, v.status, v.quantization or "", str(v.created_at)[:19], _headline(v.metrics)]
        for v in model_versions(db)
    ]


def _headline(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))


def build_dashboard_tab(settings: Settings, db: Database | None = None) -> None:
    models = gr.Markdown(served_models_markdown(settings))
    training = gr.Gallery(value=training_plots(settings), label="Training", columns=3, height="auto")
    gr.Markdown("### Model versions on record")
    versions = gr.Dataframe(
        value=versions_rows(db),
        headers=["kind", "version", "status", "quantization", "created", "metrics"],
        interactive=False,
    )
    gr.Markdown("### Dataset analysis")
    with gr.Row():
        source = gr.Textbox(
            label="YOLO folder, or 'db' for the reviewed labels in the store",
            value=str(DEFAULT_DATASET) if DEFAULT_DATASET.is_dir() else "db",
            max_lines=1,
        )
        run = gr.Button("Analyse")
    summary = gr.Markdown()
    plots = gr.Gallery(label="Analysis", columns=2, height="auto")
    refresh = gr.Button("Refresh models and versions", size="sm")

    run.click(lambda s: analysis_view(s, settings), inputs=[source], outputs=[summary, plots], api_name="analyze")
    refresh.click(
        lambda: (served_models_markdown(settings), training_plots(settings), versions_rows(db)),
        outputs=[models, training, versions],
        api_name="dashboard_refresh",
    )
