"""The Dashboard tab: the served models' metrics, how they trained, the model versions on record,
and a dataset analysis of a named data source (the shipped data or the reviewed labels)."""

from __future__ import annotations

import re

import gradio as gr

from core.model_card import ModelCard, model_version, read_card, readable_data
from core.settings import PROJECT_ROOT, Settings
from core.taxonomy import object_word
from lifecycle.server import ModelServer, ServedFolders
from storage.db import Database
from ui.access import require
from ui.promotion_panel import event_rows, events_table
from ui.scratch import scratch_folder
from ui.train_tab import VERSION_HEADERS, VERSION_WIDTHS, version_rows

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
STORE_SOURCE = "Reviewed labels in the store"
# Name shown -> folder under SHARED_DATA. A client only ever sends one of these names: no
# handler takes a filesystem path from a browser.
DATA_FOLDERS = {
    "Shipped example data (slopes)": "slopes",
    "Real conditions (slope-conditions)": "slope-conditions",
}
# "mAP@0.5" would be turned into a mailto link by the Markdown renderer; the entity shows "@".
MAP50, MAP50_95 = "mAP&#64;0.5", "mAP&#64;0.5:0.95"


PLOT_CAPTIONS = {
    "classes_per_split": "Objects per class and split",
    "boxes": "Where the boxes sit, and how large",
    "cooccurrence": "Photos containing both types",
    "instances_per_image": "Objects per photo",
}


def analysis_sources() -> dict[str, str]:
    """The sources the analysis offers, name -> what ``training.data.dataset.load`` takes: the data
    folders that exist on this server, then the store."""
    found = {name: str(SHARED_DATA / sub) for name, sub in DATA_FOLDERS.items() if (SHARED_DATA / sub).is_dir()}
    return found | {STORE_SOURCE: "db"}


def served_models_markdown(folders: ServedFolders) -> str:
    """What the served models' cards say about their quality, with the data it was measured on."""
    lines = ["### Served models"]
    detector = read_card(folders.detector)
    if detector is not None and detector.metrics.get("per_class"):
        metrics = detector.metrics
        lines.append(
            f"**Detector** `{detector.version}`: {MAP50} **{metrics['map50']:.3f}**, "
            f"{MAP50_95} **{metrics['map50_95']:.3f}**. Measured on: {detector.metrics_data}."
        )
        lines.append(f"Training: {_training_text(detector)}.")
        lines.append(f"| Object | Precision | Recall | {MAP50} | {MAP50_95} |\n| --- | --- | --- | --- | --- |")
        lines += [
            f"| {object_word(name)} | {v['precision']:.3f} | {v['recall']:.3f} | "
            f"{v['map50']:.3f} | {v['map50_95']:.3f} |"
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
        lines.append(f"Training: {_training_text(condition)}.")
        if condition.crossval:  # the steadier figure, beside the free baselines
            lines += ["", "Cross-validation of the recipe that built it:", "", condition.crossval.strip()]
    else:
        lines.append(
            f"\n**Condition model** `{model_version(folders.condition)}`: no metrics recorded with this checkpoint."
        )
    return readable_data("\n".join(lines))


def _training_text(card: ModelCard) -> str:
    """The card's own account of its training (the recipe, which says fine-tuned or from
    scratch), then its parent: never a description assumed from the shipped default."""
    text = card.training.get("recipe") or card.training.get("method") or "no recipe recorded"
    text = re.sub(r"\b(\w+=[\w.+-]+)", r"`\1`", text)  # settings as written (lr0=0.001), set as code
    return text + (f"; parent `{card.parent}`" if card.parent else "")


def _accuracy_key(history: list[dict]) -> str | None:
    # Cards written before the rename say "val_accuracy"; both mean held-out accuracy.
    for key in ("held_out_accuracy", "val_accuracy"):
        if any(key in h for h in history):
            return key
    return None


def training_plots(folders: ServedFolders) -> list[tuple[str, str]]:
    """PNG files from the served models' cards: training curves and the condition confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.eval.plots import confusion_plot

    out = scratch_folder("dashboard")
    plots = []
    condition = read_card(folders.condition)
    key = _accuracy_key(condition.history) if condition is not None else None
    if condition is not None and key is not None:
        points = [h for h in condition.history if key in h]
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot([h["step"] for h in points], [h[key] for h in points], marker="o")
        ax.set_xlabel("training step")
        ax.set_ylabel("held-out accuracy")
        ax.set_title(condition.version, fontsize=9)  # the gallery caption says which model
        fig.savefig(out / "condition_training.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        plots.append((str(out / "condition_training.png"), "Condition model: held-out accuracy by step"))
    confusion = condition.metrics.get("confusion") if condition is not None else None
    if confusion and "labels" in confusion:
        # Titled with the card's version, whatever folder the model was loaded from.
        path = confusion_plot(
            confusion["labels"], confusion["matrix"], f"Conditions: {condition.version}", out / "confusion.png"
        )
        # Short: a gallery caption is one line; the full "measured on" sentence is above the plots.
        examples = condition.metrics.get("examples")
        on = f" on {examples} held-out objects" if examples else ""
        plots.append((str(path), f"Condition model: confusion matrix{on}"))
    detector = read_card(folders.detector)
    if detector is not None and detector.history:
        fig, ax = plt.subplots(figsize=(5, 3))
        epochs = [h["epoch"] for h in detector.history]
        ax.plot(epochs, [h["map50"] for h in detector.history], label="mAP@0.5")
        ax.plot(epochs, [h["map50_95"] for h in detector.history], label="mAP@0.5:0.95")
        ax.set_xlabel("epoch of its last run" if detector.parent else "epoch")
        ax.set_ylabel("mAP on the val photos")
        ax.set_title(detector.version, fontsize=9)  # the gallery caption says which model
        ax.legend()
        fig.savefig(out / "detector_training.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        plots.append((str(out / "detector_training.png"), "Detector: val mAP by epoch"))
    return plots


def analysis_view(source_name: str, settings: Settings) -> tuple[str, list[tuple[str, str]]]:
    """The analysis of one named source; a name the server does not offer is refused."""
    from training.data.dataset import load
    from training.eval.analysis import analysis_markdown, analyze, write_report

    source = analysis_sources().get(source_name)
    if source is None:
        return f"Cannot analyse {source_name!r}: choose one of {', '.join(analysis_sources())}.", []
    try:
        photos, provenance = load(source, None, settings)
    except (FileNotFoundError, ValueError, OSError) as exc:
        return f"Cannot analyse {source_name}: {exc}", []
    if not photos:
        return f"No labelled photos in {source_name}.", []
    result = analyze(photos, provenance)
    files = write_report(result, scratch_folder("analysis"))
    return analysis_markdown(result, heading=False), [
        (str(f), PLOT_CAPTIONS.get(f.stem, f.stem.replace("_", " "))) for f in files if f.suffix == ".png"
    ]


def build_dashboard_tab(settings: Settings, server: ModelServer, db: Database | None = None) -> None:
    models = gr.Markdown(served_models_markdown(server.served()), elem_id="dashboard-models")
    # contain + preview: a plot thumbnail shows whole (axes and titles), a click enlarges it.
    training = gr.Gallery(
        value=training_plots(server.served()),
        label="Training",
        columns=3,
        height="auto",
        object_fit="contain",
        allow_preview=True,
        elem_id="dashboard-training",
    )
    gr.Markdown("### Model versions on record")
    versions = gr.Dataframe(
        value=version_rows(db) if db is not None else [],
        headers=VERSION_HEADERS,
        interactive=False,
        wrap=True,
        column_widths=VERSION_WIDTHS,
    )
    gr.Markdown("### Changes of the served models")
    events = events_table(db, show_label=False, elem_id="dashboard-events")
    gr.Markdown("### Dataset analysis")
    sources = list(analysis_sources())
    with gr.Row():
        source = gr.Dropdown(sources, value=sources[0], label="Data to analyse", scale=3)
        run = gr.Button("Analyse", scale=1)
    summary = gr.Markdown()
    plots = gr.Gallery(label="Analysis", columns=4, height="auto", object_fit="contain", allow_preview=True)
    refresh = gr.Button("Refresh models and versions", size="sm")
    # The page follows promotions by itself; the training plots are sent again only when what
    # serves changed (they are images).
    timer = gr.Timer(10.0)
    built = server.served()  # what the page's first plots show
    shown = gr.State((built.detector, built.condition))  # this page's served folders, as its plots show them

    def analyse(name: str, request: gr.Request):
        require(request, db, "inspector")
        return analysis_view(name, settings)

    def view(served: ServedFolders, plots) -> tuple:
        rows = version_rows(db) if db is not None else []
        return served_models_markdown(served), plots, rows, event_rows(db) if db is not None else []

    def refreshed(request: gr.Request):
        require(request, db, "inspector")
        served = server.served()
        return view(served, training_plots(served))

    def ticked(before: tuple | None, request: gr.Request):
        try:
            require(request, db, "inspector")
        except gr.Error:  # logged out: the timer asks quietly
            return gr.update(), gr.update(), gr.update(), gr.update(), before
        served = server.served()
        now = (served.detector, served.condition)
        return *view(served, gr.update() if now == before else training_plots(served)), now

    run.click(analyse, inputs=[source], outputs=[summary, plots], api_name="analyze")
    outputs = [models, training, versions, events]
    refresh.click(refreshed, outputs=outputs, api_name="dashboard_refresh")
    timer.tick(ticked, inputs=[shown], outputs=[*outputs, shown], show_progress="hidden", api_name=False)
