"""The Review tab's keyboard shortcuts: which key clicks which button, the legend shown under
the editor, and the page script that listens for them."""

from __future__ import annotations

# Keys -> the button (elem_id) they click. Ignored while typing in a field. They also work with
# the focus on the photo (a click on a box selects it, then "3" marks it damaged; the editor takes
# the focus after each save), heard before the editor: its own keys C (draw), E (edit label),
# Delete (remove the selected box) and space (fit) stay its own; its D (drag tool) gives way to
# "delete label" (each photo opens in the drag tool anyway).
SHORTCUTS = {
    "1": ("review-normal", "condition normal (saves)"),
    "2": ("review-blocked", "condition blocked (saves)"),
    "3": ("review-damaged", "condition damaged (saves)"),
    "a": ("review-accept", "accept the selected label"),
    "d": ("review-delete", "delete the selected label"),
    "s": ("review-save", "save boxes and the selected label's type/condition"),
    "n": ("review-save-next", "save, accept the rest of the photo (of the filtered type/condition), next photo"),
    "Enter": ("review-save-next", "same as n"),
    "A": ("review-accept-all", "(Shift+A) accept all remaining on the photo (of the filtered type/condition)"),
    "j": ("review-label-next", "select the next label"),
    "k": ("review-label-prev", "select the previous label"),
    "]": ("review-next", "next photo without saving"),
    "[": ("review-prev", "previous photo without saving"),
    "u": ("review-undo", "undo the photo's last action (a whole save)"),
    "r": ("review-redo", "redo what was undone"),
}
SHORTCUTS_MD = (
    "**Keys:** "
    + " · ".join(f"`{key}` {text}" for key, (_, text) in SHORTCUTS.items() if key != "Enter")
    + " · `Enter` = `n`. Keys work anywhere but in a text field; on the photo, `C` draws a box,"
    " `Delete` removes the selected box, the wheel zooms, a drag on empty ground pans and space fits"
    " the photo again (the editor's own keys)."
)
_KEYMAP_JS = "{" + ", ".join(f"{key!r}: {elem!r}" for key, (elem, _) in SHORTCUTS.items()) + "}"
SHORTCUTS_JS = f"""
if (!window.__slopeReviewKeys) {{
  window.__slopeReviewKeys = true;
  const keys = {_KEYMAP_JS};
  // A clicked button keeps the focus, and Enter on a focused button clicks it again (after
  // "Delete label", Enter deleted a second label): the page takes the focus back after each click.
  document.addEventListener("click", (e) => {{
    const button = e.target.closest && e.target.closest("button[id^='review-']");
    if (button) setTimeout(() => button.blur(), 0);
  }}, true);
  document.addEventListener("keydown", (e) => {{
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target;
    if (t && (t.closest("input, textarea, select, [contenteditable=true], .modal")
              || (e.key === "Enter" && t.closest("button")))) return;
    const id = keys[e.key];
    const button = id && document.getElementById(id);
    if (!button || button.offsetParent === null) return;  // the Review tab is not shown
    e.preventDefault();
    e.stopPropagation();  // on the photo, "d" is ours (delete label), not the editor's drag tool
    button.click();
  }}, true);
}}
"""
