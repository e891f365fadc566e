"""Linear-time redaction for the dataset builder: every pattern is compiled with RE2 (automaton
based, no backtracking), so a hostile capture cannot make re-redaction slow, whatever its length.

The gateway redacts before a record is captured (gateway/src/capture.ts) with the stack's
`gateway.redactPatterns` and the policy's obligations; the builder applies the same configured
patterns again (patterns or obligations may have grown since the capture was written) plus
BUILTIN_PATTERNS. A pattern RE2 cannot compile (backreferences, lookaround) is refused with an
error that names it: a redaction pattern that silently does nothing would leak.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from . import BadInput

#: Same replacement text as the gateway's REDACTED.
REDACTED = "[REDACTED]"

#: Always applied: e-mail addresses, card-like digit runs, AWS access key ids, bearer tokens.
BUILTIN_PATTERNS: tuple[str, ...] = (
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    r"\b(?:\d[ -]?){13,19}\b",
    r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}",
)


def _msg(e: Exception) -> str:
    a = e.args[0] if e.args else e
    return a.decode(errors="replace") if isinstance(a, bytes) else str(a)


class Redactor:
    """Compiled patterns; `text()` replaces every match of any pattern in one left-to-right pass
    (the patterns are joined into one alternation after each compiled on its own)."""

    def __init__(self, patterns: Iterable[str] = (), builtin: bool = True):
        import re2  # google-re2 (requirements.txt); imported here like the other job libraries

        opts = re2.Options()
        opts.max_mem = 64 << 20
        self.sources: list[str] = [*(BUILTIN_PATTERNS if builtin else ()), *patterns]
        self._compiled = []
        for i, p in enumerate(self.sources):
            try:
                self._compiled.append(re2.compile(p, options=opts))
            except (re2.error, TypeError) as e:  # a TypeError for a non-string
                raise BadInput(
                    f"expected redaction pattern #{i} to be a linear-time (RE2) regular expression, "
                    f'found "{p}": {_msg(e)}'
                ) from None
        self._one = re2.compile("|".join(f"(?:{p})" for p in self.sources), options=opts) if self.sources else None

    def text(self, s: str) -> str:
        if self._one is None or self._one.search(s) is None:
            return s
        return self._one.sub(REDACTED, s)

    def messages(self, messages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
        """Redacted copies; one search over the joined contents decides whether any string needs
        work (the common case is no match). The separator matches no pattern's characters."""
        if self._one is None or self._one.search("\x00\n".join(m["content"] for m in messages)) is None:
            return [{"role": m["role"], "content": m["content"]} for m in messages]
        return [{"role": m["role"], "content": self.text(m["content"])} for m in messages]
