"""The README every model folder carries, written from its card."""

from core.model_card import README_FILE, ModelCard, read_card, readable_data
from core.settings import PROJECT_ROOT


def test_readme_states_metrics_with_their_data_recipe_history_and_parent(tmp_path):
    card = ModelCard(
        kind="condition",
        version="condition-x",
        parent="condition-w",
        data="crops",
        data_provenance="conditions synthesized on real crops",
        data_credit="Roboflow, CC BY 4.0",
        training={"recipe": "300 steps continued from its parent", "steps": 300},
        history=[{"step": 100, "held_out_accuracy": 0.5}, {"step": 300, "held_out_accuracy": 0.7}],
        metrics={"accuracy": 0.7, "examples": 40},
        metrics_data="40 synthesized val conditions",
    )
    path = card.write_readme(tmp_path, limitations=("worse than the type prior on real labels",))
    text = path.read_text()
    assert path == tmp_path / README_FILE
    assert "# Condition model `condition-x`" in text
    assert "accuracy **0.700** on 40 examples. Measured on: 40 synthesized val conditions." in text
    assert "*synthesized*" in text and "- worse than the type prior on real labels" in text
    assert "Roboflow, CC BY 4.0" in text and "Parent: `condition-w`" in text
    assert "Recipe: 300 steps continued from its parent" in text
    assert "held_out_accuracy 0.500 -> 0.700" in text
    assert "mAP@" not in text  # never a bare "@" a Markdown renderer turns into a mail link


def test_the_shipped_models_carry_a_readme_matching_their_card():
    for kind in ("detector", "condition"):
        folder = PROJECT_ROOT / "models" / kind
        card = read_card(folder)
        text = (folder / README_FILE).read_text()
        assert card.version in text and card.metrics_data in text
    folder = PROJECT_ROOT / "models" / "condition"
    card, text = read_card(folder), (folder / README_FILE).read_text()
    assert f"accuracy **{card.metrics['accuracy']:.3f}**" in text and f"on {card.metrics['examples']} examples" in text
    # The shipped condition model says how it did across folds, beside both baselines.
    assert "## Cross-validation" in text and card.crossval.strip() in text
    assert "type prior" in card.crossval and "EfficientNet-Lite0 probe" in card.crossval


def test_pages_name_the_shipped_cards_data_as_datasets_never_as_server_paths():
    """A card keeps where its data lay (provenance); the dashboard, the Train tab and the HTML
    report say which dataset, not a folder of the server."""
    from core.report.html import html_report, model_info
    from core.report.rows import ReportMeta
    from core.settings import Settings
    from lifecycle.server import ServedFolders
    from ui.dashboard_tab import served_models_markdown

    assert readable_data("45 val photos of ../shared/data/slopes (human boxes)") == (
        "45 val photos of the slopes dataset (human boxes)"
    )
    assert readable_data("5-fold CV on imported YOLO folder ../shared/data/slope-conditions") == (
        "5-fold CV on the slope-conditions dataset"
    )
    settings = Settings()
    page = served_models_markdown(ServedFolders(settings.detector_model, settings.condition_model))
    report = html_report([], "t", ReportMeta("ines", ""), model_info({"detector": settings.detector_model}))
    for shown in (page, report):
        assert "shared/data" not in shown and "the slopes dataset" in shown and "YOLO folder the" not in shown
    assert "| Model | accuracy |" in page  # the cross-validation table's header
