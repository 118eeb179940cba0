"""The ``--device`` option of the commands that run a network."""

from __future__ import annotations

from typing import Any

import click

from textmask_ocr.errors import InputError

DEVICE_HELP = "cpu, cuda, cuda:1 ... (default: CUDA if available)."


def check_device(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: ``value`` must name a device this machine has (usage error otherwise,
    worded by :func:`~textmask_ocr.engine.distributed.resolve_device`)."""
    if value is None:
        return None
    from textmask_ocr.engine.distributed import resolve_device

    try:
        resolve_device(value, "--device")
    except InputError as error:
        raise click.UsageError(str(error)) from None
    return value


def device_option(help: str = DEVICE_HELP) -> Any:
    """``--device``, checked by :func:`check_device`."""
    return click.option("--device", callback=check_device, help=help)
