"""Read the HTML report back: its sections, their tables, cards and SVG charts (stdlib only)."""

from __future__ import annotations

from html.parser import HTMLParser


class ReportPage(HTMLParser):
    """Parses the report: ``sections[id]`` holds its ``tables`` (rows of cell texts),
    ``cards`` (label -> value) and ``svgs`` (how many charts), and ``text``."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, dict[str, object]] = {}
        self._section: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._card: dict[str, str] | None = None
        self._card_part: str | None = None
        self.feed(page)

    def _current(self) -> dict[str, object]:
        assert self._section is not None
        return self.sections[self._section]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id") or ""
            self.sections[self._section] = {"tables": [], "cards": [], "svgs": 0, "text": []}
        elif self._section is None:
            return
        elif tag == "table":
            self._current()["tables"].append([])  # type: ignore[attr-defined]
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "svg":
            self._current()["svgs"] += 1  # type: ignore[operator]
        elif tag == "div" and a.get("class") == "card":
            self._card = {}
            self._current()["cards"].append(self._card)  # type: ignore[attr-defined]
        elif self._card is not None and tag in ("div", "span"):
            part = (a.get("class") or "").split(" ")[0]
            if part in ("label", "value", "change"):
                self._card_part = part
                self._card.setdefault(part, "")

    def handle_endtag(self, tag: str) -> None:
        if self._section is None:
            return
        if tag == "section":
            self._section = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._current()["tables"][-1].append(self._row)  # type: ignore[index]
            self._row = None
        elif tag in ("div", "span") and self._card_part is not None:
            self._card_part = None

    def handle_data(self, data: str) -> None:
        if self._section is None:
            return
        self._current()["text"].append(data)  # type: ignore[attr-defined]
        if self._cell is not None:
            self._cell.append(data)
        if self._card_part is not None and self._card is not None:
            self._card[self._card_part] += data

    def tables(self, section: str) -> list[list[list[str]]]:
        """The tables of a section, each a list of rows of cell texts (header row first)."""
        return self.sections[section]["tables"]  # type: ignore[return-value]

    def cards(self, section: str) -> dict[str, dict[str, str]]:
        """label -> {"value": ..., "change": ...} of a section's cards."""
        cards: list[dict[str, str]] = self.sections[section]["cards"]  # type: ignore[assignment]
        return {c.get("label", ""): c for c in cards}

    def text(self, section: str) -> str:
        """All the text of a section."""
        return " ".join(self.sections[section]["text"])  # type: ignore[arg-type]
