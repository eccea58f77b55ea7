"""Where a model stops reading a long text: one cut shared by every step that bounds its input."""

from __future__ import annotations


def word_boundary_end(text: str, max_chars: int) -> int:
    """How much of ``text`` to read: all of it (``max_chars`` 0, or a text no longer than it), else up to
    the last whitespace at or before ``max_chars``, so no word is cut in two; ``max_chars`` itself when
    the text has no whitespace in the second half of that prefix (one huge token)."""
    if max_chars <= 0 or len(text) <= max_chars:
        return len(text)
    space = max(text.rfind(" ", 0, max_chars + 1), text.rfind("\n", 0, max_chars + 1))
    return space if space > max_chars // 2 else max_chars
