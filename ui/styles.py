"""Page styles a tab needs, added by the tab itself (through a ``gr.HTML``'s ``js_on_load``), so
they hold wherever the tab is built: the app, a test, a Space."""

import json


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


def fitted_columns_css(elem_id: str, widths: list[str]) -> str:
    """CSS setting the columns of the ``gr.Dataframe`` ``elem_id`` to ``widths`` ("96px", "12%",
    or "auto": a share of what the others leave) and its header and rows to its frame's width, over
    the pixel widths Gradio writes into every cell from ``column_widths`` (hence ``!important``).
    For use inside a media or container query: the table keeps those widths elsewhere."""
    cells = f"#{elem_id} :is(th.header-cell, .sizing-body td, .virtual-row > .body-cell)"
    rules = [
        f"#{elem_id} .header-table, #{elem_id} .virtual-body {{ width: 100% !important; }}",
        f"#{elem_id} .header-table {{ table-layout: fixed; }}",
        f"{cells} {{ min-width: 0 !important; max-width: none !important; }}",
    ]
    for n, width in enumerate(widths, 1):
        flex = "1 1 0" if width == "auto" else f"0 0 {width}"
        rules.append(f"{cells}:nth-child({n}) {{ width: {width} !important; flex: {flex} !important; }}")
    return "\n".join(rules)


def fitted_table_css(elem_id: str, wide: list[str], fitted: list[str], two_line: list[str], last_header: str) -> str:
    """CSS fitting the ``gr.Dataframe`` ``elem_id`` (``wide``: its ``column_widths``, in pixels) to
    a frame narrower than those add up to, instead of scrolling sideways: from 900 px the
    ``fitted`` widths; under that the ``two_line`` ones, its last column on a line of its own under
    the rest of its row, headed ``last_header`` there, in smaller type under 680 px. On a phone
    (under 560 px) it keeps ``wide`` and scrolls: squeezed, its columns read a letter a line."""
    total = sum(int(width.removesuffix("px")) for width in wide)
    last = f"#{elem_id} .virtual-row > .body-cell:nth-child({len(two_line)})"
    return f"""#{elem_id} {{ container-type: inline-size; }}
@container (min-width: 560px) and (max-width: {total - 1}px) {{ {fitted_columns_css(elem_id, fitted)}
#{elem_id} .cell-wrap {{ padding-left: 6px; padding-right: 6px; }}
#{elem_id} th.header-cell {{ font-size: 12px; }} }}
@container (min-width: 560px) and (max-width: 899px) {{ {fitted_columns_css(elem_id, two_line)}
#{elem_id} :is(th.header-cell, .sizing-body td):nth-child({len(two_line)}) {{ display: none; }}
#{elem_id} .virtual-row {{ flex-wrap: wrap; }}
{last} .cell-wrap {{ padding-top: 0; }}
{last} span::before {{ content: {json.dumps(last_header + ": ")}; font-weight: 600; }} }}
@container (min-width: 560px) and (max-width: 679px) {{
#{elem_id} th.header-cell {{ font-size: 11px; }} #{elem_id} .body-cell {{ font-size: 12px; }} }}"""
