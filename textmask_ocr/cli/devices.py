"""The ``--device`` option of the commands that run a network."""

from __future__ import annotations

from typing import Any

import click

DEVICE_HELP = "cpu, cuda, cuda:1 ... (default: CUDA if available)."


def check_device(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: ``value`` must name a device this machine has (usage error otherwise)."""
    if value is None:
        return None
    import torch

    try:
        device = torch.device(value)
    except RuntimeError:
        raise click.BadParameter(f"{value!r} is not a device (cpu, cuda, cuda:1 ...)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0 or (device.index or 0) >= count:
            raise click.BadParameter(f"{value}: this machine has {count} CUDA devices")
    elif device.type != "cpu":
        raise click.BadParameter(f"{value}: only cpu and cuda devices are supported")
    return value


def device_option(help: str = DEVICE_HELP) -> Any:
    """``--device``, checked by :func:`check_device`."""
    return click.option("--device", callback=check_device, help=help)
