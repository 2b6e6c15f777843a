"""A fenced code block of a reply (`-x/--extract`, `--extract-last`), found as the text
arrives, so the first block can be shown while it streams.

A fence is a line of three or more backticks or tildes, after spaces if any (CommonMark
allows three; a reply often nests a block in a list item, further in); after an opening
fence may come an info string (`sh`), which for a backtick fence holds no backtick (so
"```a``` on one line" is not a fence). The block ends at a line of the same character,
at least as long, with only spaces after it; a block never closed runs to the end of
the reply. The block's text is its lines without the fences, each with up to the
opening fence's indentation taken off, and blank lines at its end dropped: it ends
with exactly one newline.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

FIRST, LAST = "first", "last"
_OPENING = re.compile(r" *(`{3,}|~{3,})(.*)", re.DOTALL)


@dataclass(frozen=True)
class Fence:
    char: str  # "`" or "~"
    length: int
    indent: int  # spaces before it: as many are taken off each line of the block

    def closes(self, line: str) -> bool:
        """Whether a whole line (without its newline) is this block's closing fence."""
        return re.fullmatch(rf" *{re.escape(self.char)}{{{self.length},}}[ \t]*\r?",
                            line) is not None

    def may_close(self, start: str) -> bool:
        """Whether a line that begins with `start` could still be the closing fence."""
        char = re.escape(self.char)
        return re.fullmatch(rf" *(?:{char}*|{char}{{{self.length},}}[ \t]*\r?)",
                            start) is not None

    def unindented(self, line: str) -> str:
        return line[min(self.indent, len(line) - len(line.lstrip(" "))):]


def opening_fence(line: str) -> Fence | None:
    """The fence a whole line (without its newline) opens, if it opens one."""
    match = _OPENING.fullmatch(line)
    if match is None or (match.group(1)[0] == "`" and "`" in match.group(2)):
        return None
    run = match.group(1)
    return Fence(run[0], len(run), match.start(1))


class FenceExtractor:
    """Feed it the reply's text in pieces of any size; `feed` returns what to show now
    (with FIRST: the block's text as it arrives; with LAST: nothing), `end` the rest: the
    block's remaining text and its one newline, or None when the reply had no block.

    With FIRST, text before the block is dropped, and after its closing fence nothing
    more is looked at. With LAST, only the block being read and the last one closed are
    kept. A line of the block is given out as soon as it cannot be the closing fence or
    a blank line (which is held until more text follows it)."""

    def __init__(self, which: str = FIRST) -> None:
        if which not in (FIRST, LAST):
            raise ValueError(f"extract {which!r}: must be {FIRST!r} or {LAST!r}")
        self._last = which == LAST
        self._line = ""  # the current line so far, while it is undecided
        self._streaming = False  # the current line is block text, given out as it comes
        self._fence: Fence | None = None  # inside a block: its opening fence
        self._held = ""  # line ends and blank lines, given out only before more text
        self._shown: list[str] = []  # the block's text not yet returned (LAST: all of it)
        self._found: str | None = None  # a block was closed (LAST: its text)
        self._done = False  # FIRST: its block has ended; the rest is read, not looked at

    def feed(self, text: str) -> str:
        while text and not self._done:
            part, newline, text = text.partition("\n")
            if newline:
                self._end_line(part)
            else:
                self._more(part)
        if self._last:
            return ""
        shown = "".join(self._shown)
        self._shown.clear()
        return shown

    def end(self) -> str | None:
        """The rest to show once the whole reply is in, or None: no fenced block."""
        if not self._done and (self._line or self._streaming):
            self._end_line("")
        if self._fence is not None:
            self._close()
        if self._found is None:
            return None
        return (self._found if self._last else "".join(self._shown)) + "\n"

    def _more(self, part: str) -> None:
        """Part of a line whose end has not come yet."""
        if self._streaming:
            self._shown.append(part)
            return
        self._line += part
        fence = self._fence
        if fence is not None and self._line.strip() and not fence.may_close(self._line):
            self._text(fence.unindented(self._line))
            self._line, self._streaming = "", True

    def _end_line(self, part: str) -> None:
        if self._streaming:
            self._shown.append(part)
            self._held, self._streaming = "\n", False
            return
        line, self._line = self._line + part, ""
        fence = self._fence
        if fence is None:
            self._fence = opening_fence(line)
            self._held = ""
        elif fence.closes(line):
            self._close()
        elif not line.strip():
            self._held += fence.unindented(line) + "\n"
        else:
            self._text(fence.unindented(line))
            self._held = "\n"

    def _text(self, text: str) -> None:
        self._shown.append(self._held + text)
        self._held = ""

    def _close(self) -> None:
        self._fence = None
        if self._last:
            self._found = "".join(self._shown)
            self._shown.clear()
        else:
            self._found, self._done = "", True
