"""Page styles a tab needs, added by the tab itself (through a ``gr.HTML``'s ``js_on_load``), so
they hold wherever the tab is built: the app, a test, a Space."""


def style_js(style_id: str, css: str) -> str:
    """JavaScript that adds ``css`` to the page once (``style_id`` names it)."""
    return f"""
if (!document.getElementById({style_id!r})) {{
  const style = document.createElement("style");
  style.id = {style_id!r};
  style.textContent = {css!r};
  document.head.appendChild(style);
}}
"""
