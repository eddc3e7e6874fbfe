"""Templates and scripts draw icons as inline SVG (templates/components/_icon.html), never as emoji or symbol
characters: Chromium without an emoji font shows those as empty boxes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import render_to_string

ROOT = Path(settings.BASE_DIR)
SOURCES = sorted([*ROOT.glob("templates/**/*.html"), *ROOT.glob("static/**/*.js")])
# Emoji and the symbol blocks icons get drawn from (geometric shapes, misc symbols, dingbats, misc technical,
# symbols and arrows), the emoji variation selector and ⇪. Typographic arrows in running text (← → ↑ ↓) are fine.
ICON_CHARACTERS = re.compile("[\u2300-\u23ff\u25a0-\u27bf\u2b00-\u2bff\u21ea\ufe0f\U0001f000-\U0001faff]")
ICON_INCLUDE = re.compile(r'{% include "components/_icon.html" with name="([a-z-]+)"')


def test_no_emoji_or_symbol_characters_in_templates_or_scripts():
    found = [
        f"{path.relative_to(ROOT)}:{n}: {ch!r}"
        for path in SOURCES
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for ch in ICON_CHARACTERS.findall(line)
    ]
    assert not found, "use {% include \"components/_icon.html\" with name=… %} instead:\n" + "\n".join(found)


@pytest.mark.parametrize("name", sorted({m for p in SOURCES for m in ICON_INCLUDE.findall(p.read_text("utf-8"))}))
def test_every_icon_used_is_drawn(name):
    svg = render_to_string("components/_icon.html", {"name": name})
    assert svg.startswith("<svg") and 'aria-hidden="true"' in svg
    assert re.search(r"<(path|rect|circle) ", svg), f"no icon called {name!r} in components/_icon.html"
