"""Names people chose, shown to other people in Markdown: as the text they typed, never markup."""

import re

from ui.markdown import as_text


def test_a_name_is_shown_as_its_text_not_as_a_link_an_image_or_html():
    name = "![x](http://203.0.113.9/b.png)[log in again](http://203.0.113.9/login) <img src=x onerror=alert(1)>"
    shown = as_text(name)
    assert re.search(r"(?<!\\)[\[\]()!]", shown) is None and "<" not in shown  # every bracket escaped
    assert shown.replace("\\", "").replace("&lt;", "<").replace("&gt;", ">") == name  # the text itself is kept
    assert as_text("DJI_0015.jpg") == "DJI\\_0015.jpg"
