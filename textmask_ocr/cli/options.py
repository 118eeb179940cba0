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


def explicit_values(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The items of ``values`` (parameter name -> value) that the user set on the command
    line or through the environment, not click defaults."""
    return {
        name: value for name, value in values.items() if ctx.get_parameter_source(name) in _EXPLICIT
    }
