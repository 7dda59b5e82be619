"""The one way user text enters generated source code.

Workload files are shared, so their names are data, never code. Generated
programs (the compiled engine's C, validate's C++, Rust, Go and Java, the
importer's Rust) refer to functions by index (``f3``, ``p3``) and carry the
user's names only inside comments, and only through :func:`comment_text`.

The text it returns is safe inside a ``//`` line comment and a ``/* */``
block comment of every language pinbench generates, because it keeps only
characters that no lexer treats specially there:

- no ``*`` or ``/``: nothing can close a block comment, open a nested one
  (Rust nests ``/*``), or start a ``//`` that matters;
- no ``\\``, no newline, no carriage return, no NUL: nothing continues a line
  comment onto the next line (C's backslash-newline splice), and no
  ``\\u000a``, which Java decodes as a newline even inside a comment;
- no ``?``: no trigraph (``??/`` is a backslash in ISO C and C++14);
- ASCII only: no bidirectional controls (the "Trojan Source" attack) and no
  encoding a compiler might reject.

Everything else is percent-encoded (``%2F`` for ``/``), so the comment still
tells one name from another and a reader can decode it.
"""

from __future__ import annotations

import string

# The characters kept as they are; every other one is percent-encoded. '%'
# itself is not kept, so the encoding is reversible.
_KEPT = frozenset(string.ascii_letters + string.digits + " _-.,:;=+()[]<>{}#@!$&|~^'")
MAX_COMMENT = 160  # characters of one name in a comment; longer ones are cut with "..."


def comment_text(text) -> str:
    """``text`` made safe to stand inside a comment of generated C, C++,
    Rust, Go or Java source (see the module's docstring for why each
    character is kept or encoded)."""
    out = []
    for char in str(text):
        if char in _KEPT:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    encoded = "".join(out)
    return encoded if len(encoded) <= MAX_COMMENT else encoded[: MAX_COMMENT - 3] + "..."
