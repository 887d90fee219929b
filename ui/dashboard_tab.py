"""The Dashboard tab: the served models' metrics, how the condition model trained, the model
versions on record, and a dataset analysis of a YOLO folder or of the reviewed labels."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from core.model_card import model_version, read_card
from core.settings import PROJECT_ROOT, Settings
from services.serving import ModelServer, ServedFolders
from storage.db import Database
from storage.registry import versions

DEFAULT_DATASET = PROJECT_ROOT.parent / "shared" / "data" / "slopes"


def served_models_markdown(folders: ServedFolders) -> str:
    """What the served models' cards say about their quality, with the data it was measured on."""
    lines = ["### Served models"]
    detector = read_card(folders.detector)
    if detector is not None and detector.metrics.get("per_class"):
        metrics = detector.metrics
        lines.append(
            f"**Detector** `{detector.version}`: mAP@0.5 **{metrics['map50']:.3f}**, "
            f"mAP@0.5:0.95 **{metrics['map50_95']:.3f}**. Measured on: {detector.metrics_data}."
        )
        if detector.training.get("recipe"):
            lines.append(f"Training: {detector.training['recipe']}.")
        lines.append("| class | precision | recall | mAP@0.5 | mAP@0.5:0.95 |\n| --- | --- | --- | --- | --- |")
        lines += [
            f"| {name} | {v['precision']:.3f} | {v['recall']:.3f} | {v['map50']:.3f} | {v['map50_95']:.3f} |"
            for name, v in metrics["per_class"].items()
        ]
    else:
        lines.append(f"**Detector** `{model_version(folders.detector)}`: no metrics recorded with this checkpoint.")
    condition = read_card(folders.condition)
    if condition is not None and "accuracy" in condition.metrics:
        lines.append(
            f"\n**Condition model** `{condition.version}`: accuracy **{condition.metrics['accuracy']:.3f}** on "
            f"{condition.metrics.get('examples', '?')} examples. Measured on: {condition.metrics_data}."
        )
    else:
        lines.append(
            f"\n**Condition model** `{model_version(folders.condition)}`: no metrics recorded with this checkpoint."
        )
    return "\n".join(lines)


def training_plots(folders: ServedFolders) -> list[tuple[str, str]]:
    """PNG files from the served models' cards: training curves and the condition confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.plots import confusion_plot

    out = Path(tempfile.mkdtemp(prefix="dashboard-"))
    plots = []
    condition = read_card(folders.condition)
    if condition is not None and condition.history:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot([h["step"] for h in condition.history], [h["val_accuracy"] for h in condition.history], marker="o")
        ax.set_xlabel("training step")
        ax.set_ylabel("held-out accuracy")
        ax.set_title("Condition model training")
        fig.savefig(out / "condition_training.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        plots.append((str(out / "condition_training.png"), "Condition model: held-out accuracy by step"))
    confusion = condition.metrics.get("confusion") if condition is not None else None
    if confusion and "labels" in confusion:
        path = confusion_plot(
            confusion["labels"], confusion["matrix"], f"Conditions: {condition.version}", out / "confusion.png"
        )
        plots.append((str(path), f"Condition model: confusion matrix ({condition.metrics_data})"))
    detector = read_card(folders.detector)
    if detector is not None and detector.history:
        fig, ax = plt.subplots(figsize=(5, 3))
        epochs = [h["epoch"] for h in detector.history]
        ax.plot(epochs, [h["map50"] for h in detector.history], label="mAP@0.5")
        ax.plot(epochs, [h["map50_95"] for h in detector.history], label="mAP@0.5:0.95")
        ax.set_xlabel("epoch")
        ax.set_title("Detector training (val)")
        ax.legend()
        fig.savefig(out / "detector_training.png", dpi=90, bbox_inches="tight")
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
        for v in versions(db)
    ]


def _headline(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))


def build_dashboard_tab(settings: Settings, server: ModelServer, db: Database | None = None) -> None:
    models = gr.Markdown(served_models_markdown(server.served()))
    training = gr.Gallery(value=training_plots(server.served()), label="Training", columns=3, height="auto")
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
        lambda: (served_models_markdown(server.served()), training_plots(server.served()), versions_rows(db)),
        outputs=[models, training, versions],
        api_name="dashboard_refresh",
    )
