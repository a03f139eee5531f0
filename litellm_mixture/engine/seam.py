"""Where an early segment joins the answer so far, for an aggregator that cannot take a prefill.

Such a model is shown the answer so far and asked to continue it; small models often do not.
Measured on Qwen2.5-Coder-0.5B and SmolLM2-135M (benchmarks/local_models.py), they restart the
answer (verbatim, or its first sentence reworded), announce that they continue ("Yes, I can
continue."), and, since a capped segment stops mid-sentence, begin a new sentence right after
the cut word ("arrays and hashThe hash table..."). So a segment that may be followed by another
goes out sentence by sentence, and its unfinished last sentence is dropped if the cap cut it:
the answer so far always ends at a sentence (or line) end. A later segment's opening is held
back until it says something new: its sentences that restate the answer so far, or announce a
continuation, are dropped; then it is joined with the whitespace the seam needs.
"""

from __future__ import annotations

import itertools
import re

# The end of a sentence or of a line, with the whitespace after it.
BOUNDARY = re.compile(r"[.!?][\"')\]*]*[ \t]+|\n")
# A short opening sentence that talks about the answer instead of continuing it.
ANNOUNCEMENT = re.compile(
    r"(?i)^\W*(sure|certainly|of course|yes|okay|absolutely)\b|\bcontinu|\bthe rest\b"
)
ANNOUNCEMENT_WORDS = 10
# Leading words a reworded restart shares with a sentence of the answer so far.
RESTART_WORDS = 5
PUNCTUATION = "\"'`*_()[]{}<>.,;:!?-#"


def _words(text: str) -> list[str]:
    return [w for w in (w.strip(PUNCTUATION).lower() for w in text.split()) if w]


def _ends(text: str) -> list[int]:
    """Where the sentences and lines of ``text`` end (a list item's "2. " ends none)."""
    out = []
    for match in BOUNDARY.finditer(text):
        line = text[text.rfind("\n", 0, match.start()) + 1 : match.start()]
        if not line.strip().isdigit():
            out.append(match.end())
    return out


def _last_end(text: str) -> int:
    return max(_ends(text), default=0)


def _units(text: str) -> list[str]:
    """``text`` cut after each sentence or line end (the last piece may be unfinished)."""
    cuts = [0, *_ends(text), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if a < b]


def _contains(words: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(words[i : i + n] == run for i in range(len(words) - n + 1))


class Seam:
    """One segment's text on its way to the caller: ``feed`` it as it streams, ``end`` it
    when it ends. ``written`` is the answer so far; ``more``: whether a later segment may
    follow this one (then the segment goes out sentence by sentence)."""

    def __init__(self, written: str, more: bool) -> None:
        self.written, self.more = written, more
        self.opening = bool(written.strip())  # the segment has said nothing new yet
        self.held = ""
        units = _units(written)
        self.seen = {" ".join(u.split()) for u in units}
        self.seen_words = _words(written)
        self.starts = [_words(u)[:RESTART_WORDS] for u in units]
        self.dropped: list[str] = []  # what was not passed on, for the trace

    def feed(self, text: str) -> str:
        self.held += text
        return self._release(final=False)

    def end(self, continued: bool) -> str:
        """The rest of the segment; ``continued``: a later segment writes on from here, so a
        sentence the cap cut is dropped (the segment's end counts as whitespace)."""
        if continued:
            cut = min(_last_end(self.held + " "), len(self.held))
            self.dropped.append(self.held[cut:])
            self.held = self.held[:cut]
        return self._release(final=True)

    def note(self) -> str | None:
        dropped = [d.strip() for d in self.dropped if d.strip()]
        if not dropped:
            return None
        words = sum(len(d.split()) for d in dropped)
        return f"seam: {words} words not passed on ({' | '.join(dropped)})"

    def _release(self, final: bool) -> str:
        """What can go out of what is held: the opening sentence by sentence as each is judged,
        then up to the last sentence end (while a later segment may follow) or everything."""
        out = []
        while self.opening and (ends := _ends(self.held)):
            unit, self.held = self.held[: ends[0]], self.held[ends[0] :]
            out.append(self._opened(unit))
        if self.opening:  # an unfinished opening sentence is judged once it ends
            if final:
                out.append(self._opened(self.held))
                self.held = ""
            return "".join(out)
        cut = len(self.held) if final or not self.more else _last_end(self.held)
        out.append(self.held[:cut])
        self.held = self.held[cut:]
        return "".join(out)

    def _opened(self, unit: str) -> str:
        """An opening sentence: dropped if it says nothing new, else the segment's first words,
        with the whitespace the seam needs."""
        if not unit.strip():
            return ""  # the seam gets its own whitespace
        if self._restates(unit):
            self.dropped.append(unit)
            return ""
        self.opening = False
        if self.written[-1:] == "\n":  # a line's indentation is its own
            return unit
        if self.written[-1:].isspace():
            return unit.lstrip(" \t")
        return unit if unit[:1].isspace() or unit[:1] in PUNCTUATION else " " + unit

    def _restates(self, unit: str) -> bool:
        words = _words(unit)
        if " ".join(unit.split()) in self.seen:
            return True
        if words and len(words) <= ANNOUNCEMENT_WORDS and ANNOUNCEMENT.search(unit):
            return True
        if len(words) >= 4 and _contains(self.seen_words, words):
            return True
        start = words[:RESTART_WORDS]
        return len(start) == RESTART_WORDS and start in self.starts
