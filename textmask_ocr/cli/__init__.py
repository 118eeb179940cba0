"""The ``textmask-ocr`` command: a click group whose subcommands load on first use.

Subcommands live in modules by role (``lmdb``, ``synth``, ...) and are imported only when invoked,
so ``textmask-ocr --help`` stays fast. :class:`~textmask_ocr.errors.InputError` raised anywhere
below (and the one-line errors of the model packages) becomes ``Error: ...`` on stderr and exit
code 1; bad usage is a one-line ``Error: ...`` and exit code 2.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from textmask_ocr._version import __version__
from textmask_ocr.cli.console import console_logging
from textmask_ocr.errors import InputError

# command name -> "module:attribute" (relative to textmask_ocr.cli)
_COMMANDS: dict[str, str] = {
    "lmdb": "lmdb:lmdb",
    "synth": "synth:synth",
    "finetune": "recognition:finetune",
    "evaluate": "recognition:evaluate",
    "recognize": "recognition:recognize",
    "train-seg": "segmentation:train_seg",
    "segment": "segmentation:segment",
    "evaluate-seg": "segmentation:evaluate_seg",
    "warp-icdar13": "segmentation:warp_icdar13",
    "add-masks": "add_masks:add_masks",
    "export": "export:export",
    "demo": "demo:demo",
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
        except PermissionError as error:  # an output or input the user's account may not use
            raise click.ClickException(f"{error.filename}: permission denied") from None
        except Exception as error:
            if isinstance(error, user_error_types()):
                raise click.ClickException(str(error)) from None
            raise

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Like click's, but bad usage is one line too: ``Error: ...`` and exit code 2; the
        library's log records and warnings are shown on stderr (:func:`console_logging`)."""
        with console_logging():
            return self._main(*args, **kwargs)

    def _main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as error:
            click.echo(f"Error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)


def user_error_types() -> tuple[type[Exception], ...]:
    """Exceptions that explain a user's mistake in one line (shown without a traceback)."""
    from recognizers.errors import CheckpointError
    from segmentation.datasets.errors import DatasetFormatError

    return (InputError, CheckpointError, DatasetFormatError)


@click.group(
    cls=LazyGroup,
    lazy_commands=_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="textmask-ocr")
def main() -> None:
    """Text masks for scene-text recognition: data, segmentation, RGB+mask recognizers."""
