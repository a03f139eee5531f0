"""How an early answer's seams read (tests and benchmarks/local_models.py): where each later
segment's text starts, from the segments' trace notes, and what is wrong there."""

from __future__ import annotations

import re

NOTE = re.compile(r"; (\d+) characters written before it")


def seams(notes: list[str | None]) -> list[int]:
    """Where each later segment's text starts in the answer."""
    found = (NOTE.search(n or "") for n in notes)
    return sorted({int(m.group(1)) for m in found if m and int(m.group(1)) > 0})


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def judge(text: str, at: int) -> dict[str, bool]:
    """The seam at ``at``: ``glued`` (a letter or digit on both sides), ``restart`` (the
    segment opens with the answer's first 4 words or the 4 just before it), ``repeat`` (4 words
    in a row among its first 6 that the answer already said), ``announce`` (its first sentence
    says it continues)."""
    before, after = _words(text[:at]), _words(text[at:])
    runs = {tuple(before[i : i + 4]) for i in range(len(before) - 3)}
    first = re.split(r"(?<=[.!?:])\s", text[at:].strip(), maxsplit=1)[0]
    return {
        "glued": text[at - 1 : at].isalnum() and text[at : at + 1].isalnum(),
        "restart": after[:4] in (before[:4], before[-4:]),
        "repeat": any(tuple(after[i : i + 4]) in runs for i in range(min(len(after), 6) - 3)),
        "announce": re.search(r"(?i)\bcontinu", first) is not None,
    }
