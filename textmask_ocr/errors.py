"""The one exception type for bad user input.

Anything a user can get wrong (a missing path, a malformed LMDB, an unknown architecture, a
checkpoint that does not fit) raises :class:`InputError` with a one-line message that names the
file or flag. The CLI prints it as ``Error: <message>`` and exits with code 1, never a traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """A problem with user-supplied input, explained in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
