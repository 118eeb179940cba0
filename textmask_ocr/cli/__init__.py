"""The ``textmask-ocr`` command: a click group whose subcommands load on first use.

Subcommands live in modules by role (``lmdb``, ``synth``, ...) and are imported only when invoked,
so ``textmask-ocr --help`` stays fast. :class:`~textmask_ocr.errors.InputError` raised anywhere
below becomes a one-line ``Error: ...`` on stderr and exit code 1.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from textmask_ocr import __version__
from textmask_ocr.errors import InputError

# command name -> "module:attribute" (relative to textmask_ocr.cli)
_COMMANDS: dict[str, str] = {
    "lmdb": "lmdb:lmdb",
    "synth": "synth:synth",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module only when the subcommand is used."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            module = importlib.import_module(f"{__name__}.{module_name}")
            return getattr(module, attribute)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as error:
            raise click.ClickException(str(error)) from None


@click.group(
    cls=LazyGroup,
    lazy_commands=_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="textmask-ocr")
def main() -> None:
    """Text masks for scene-text recognition: data, segmentation, RGB+mask recognizers."""
