"""A mention of a person inside a text, the same for every messenger.

The rules write `mention(id, name)`; each messenger's adapter renders it as that messenger marks
a mention (VK: `[id123|Имя]`) when the message is sent. Two control characters delimit it, so
no name and no ordinary text can end it early.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_MARK = "\x1e"  # record separator: around a mention
_SEP = "\x1f"  # unit separator: between the id and the name
_PATTERN = re.compile(f"{_MARK}(\\d+){_SEP}([^{_MARK}{_SEP}]*){_MARK}")


def mention(person_id: int, name: str) -> str:
    clean = name.replace(_MARK, " ").replace(_SEP, " ")
    return f"{_MARK}{person_id}{_SEP}{clean}{_MARK}"


def has_mention(text: str) -> bool:
    return _PATTERN.search(text) is not None


def render(
    text: str,
    as_markup: Callable[[int, str], str],
    as_text: Callable[[str], str] = lambda part: part,
) -> str:
    """The text with every mention as `as_markup(id, name)` gives it, and everything between
    them as `as_text` gives it (a messenger's escaping of its own markup)."""
    out: list[str] = []
    start = 0
    for match in _PATTERN.finditer(text):
        out.append(as_text(text[start : match.start()]))
        out.append(as_markup(int(match.group(1)), match.group(2)))
        start = match.end()
    out.append(as_text(text[start:]))
    return "".join(out)


def plain(text: str) -> str:
    """The text with every mention as the bare name (for logs and files)."""
    return render(text, lambda _, name: name)
