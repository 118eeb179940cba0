"""Click options whose defaults come from a settings dataclass, and what the user typed.

The settings dataclasses (:class:`~textmask_ocr.engine.run_settings.RunSettings`) are the one
place a default is written; :func:`setting_option` reads it from there. :func:`explicit_values`
tells the values the user gave from click's defaults, which resuming a run must not mistake for
changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from textmask_ocr.engine.run_settings import RunSettings

_EXPLICIT = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def setting_option(
    settings: type[RunSettings], name: str, *short: str, **kwargs: Any
) -> Callable[[Any], Any]:
    """``click.option(--NAME)`` with the default of the field ``name`` of ``settings``.

    Args:
        settings: the settings dataclass.
        name: the field (the flag is ``--`` + name with dashes).
        short: further spellings, e.g. ``"-q"``.
        kwargs: passed on to :func:`click.option` (``type``, ``help``, ``is_flag``, ...).
    """
    default = settings.default(name)
    kwargs.setdefault("show_default", not kwargs.get("is_flag", False))
    return click.option(settings.flag(name), *short, name, default=default, **kwargs)


def loop_options(settings: type[RunSettings]) -> Callable[[Any], Any]:
    """The training-loop options of ``finetune`` and ``train-seg``, defaults from ``settings``."""
    options = [
        setting_option(settings, "batch_size", type=click.IntRange(min=1)),
        setting_option(settings, "workers", type=click.IntRange(min=0)),
        setting_option(
            settings,
            "amp",
            is_flag=True,
            help="Mixed precision (float16 on CUDA, bfloat16 on CPU).",
        ),
        setting_option(settings, "seed", type=int),
        setting_option(settings, "eval_every", type=click.IntRange(min=0)),
        setting_option(settings, "checkpoint_every", type=click.IntRange(min=1), help="Steps."),
        setting_option(
            settings,
            "checkpoint_minutes",
            type=click.FloatRange(min=0),
            help="Also checkpoint after this much training time (0: steps only).",
        ),
    ]

    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def explicit_values(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The items of ``values`` (parameter name -> value) that the user set on the command
    line or through the environment, not click defaults."""
    return {
        name: value for name, value in values.items() if ctx.get_parameter_source(name) in _EXPLICIT
    }
