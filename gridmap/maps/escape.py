"""Escaping of user text for the contexts it lands in on a map page.

folium renders tooltip and popup strings a second time as Jinja2 templates, so
text such as ``{{ lipsum.__globals__ }}`` would run as Python while a map is
built (BAD-INPUTS.md case 1), and Leaflet inserts them as HTML (case 2).
:func:`html_text` makes a string inert for both: HTML special characters and
the braces and percent signs Jinja2 looks for become character references,
which the browser shows as the original characters.
"""

from __future__ import annotations

import html

__all__ = ["html_text"]

# Jinja2 delimiters, and the characters that end or interpolate a JavaScript
# template literal (folium puts tooltip text inside backticks).
_INERT = str.maketrans({"{": "&#123;", "}": "&#125;", "%": "&#37;", "`": "&#96;", "$": "&#36;", "\\": "&#92;"})


def html_text(value: object) -> str:
    """Escape `value` for HTML text or a quoted attribute, inert to Jinja2 and JS template literals.

    Examples
    --------
    >>> html_text("<b>{{ 7*7 }}</b>")
    '&lt;b&gt;&#123;&#123; 7*7 &#125;&#125;&lt;/b&gt;'
    """
    return html.escape(str(value), quote=True).translate(_INERT)
