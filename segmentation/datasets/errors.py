"""The one exception the dataset readers raise for unusable files or folders."""

from __future__ import annotations


class DatasetFormatError(ValueError):
    """A dataset file or folder that cannot be read, explained in one line naming it.

    The application layer turns it into its own user-input error; this package stays free of
    application imports.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
