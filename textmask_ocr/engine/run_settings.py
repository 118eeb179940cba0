"""The settings of a training command: defaults written once, one record, one resume rule.

A command's settings are a dataclass deriving from :class:`RunSettings`. Its fields are the one
place defaults are written (click options read theirs with :meth:`RunSettings.default`); its
:meth:`~RunSettings.record` is the run's ``config.json``. Resuming a run takes that record back:
a setting may differ from the recorded one only when :meth:`~RunSettings.may_change` allows it
(settings that do not change what the run computes: the output folder, data-loading workers, the
progress bar, checkpoint intervals), and anything else is refused, naming its flag.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from textmask_ocr.errors import InputError

#: The file of a run folder that records its settings (``{"config": record, ...}``).
CONFIG_FILE = "config.json"

_Settings = TypeVar("_Settings", bound="RunSettings")


class RunSettings:
    """Base of the settings dataclasses of ``finetune`` and ``train-seg`` (not a dataclass).

    Subclasses are dataclasses that declare the fields annotated here (``out``: the run folder;
    ``resume``: the folder of a run to continue, or None; the training loop's settings) and
    convert recorded JSON values back in :meth:`from_dict`.
    """

    #: Settings a resumed run may change: they do not change what the run computes.
    RESUMABLE: ClassVar[tuple[str, ...]] = (
        "out",
        "resume",
        "workers",
        "quiet",
        "checkpoint_every",
        "checkpoint_minutes",
    )
    #: Command-line flags of settings not spelled ``--<name-with-dashes>``.
    FLAGS: ClassVar[Mapping[str, str]] = {}

    # Fields every subclass declares (the run folder, the run to continue, the training loop).
    out: Path
    resume: Path | None
    batch_size: int
    workers: int
    seed: int
    amp: bool
    log_every: int
    eval_every: int
    checkpoint_every: int
    checkpoint_minutes: float
    quiet: bool
    deterministic: bool

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of the setting ``name`` (what its click option shows and uses)."""
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        field = next(field for field in fields if field.name == name)
        if field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
        if field.default is dataclasses.MISSING:
            raise ValueError(f"{cls.__name__}.{name} has no default")
        return field.default

    @classmethod
    def flag(cls, name: str) -> str:
        """The command-line flag of the setting ``name``."""
        return cls.FLAGS.get(name, "--" + name.replace("_", "-"))

    def record(self) -> dict[str, Any]:
        """JSON-friendly copy of every setting (paths and data sets as strings)."""
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        return {field.name: _plain(getattr(self, field.name)) for field in fields}

    @classmethod
    def from_dict(
        cls: type[_Settings], values: Mapping[str, Any], origin: str = "settings"
    ) -> _Settings:
        """Settings from a mapping of field names to recorded (JSON) values."""
        raise NotImplementedError

    @classmethod
    def recorded(cls, run_dir: str | Path) -> dict[str, Any]:
        """The settings recorded in ``run_dir/config.json`` (InputError naming the file)."""
        path = Path(run_dir) / CONFIG_FILE
        if not path.is_file():
            raise InputError(f"--resume {run_dir}: no {CONFIG_FILE} (not a run folder)")
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))["config"]
            if not isinstance(recorded, dict):
                raise TypeError("config is not an object")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"{path}: unreadable run record ({error})") from None
        return recorded

    @classmethod
    def from_run(cls: type[_Settings], run_dir: str | Path) -> _Settings:
        """The recorded settings of the run in ``run_dir``, set to resume it there."""
        return cls.resumed(run_dir, {})

    @classmethod
    def resumed(cls: type[_Settings], run_dir: str | Path, given: Mapping[str, Any]) -> _Settings:
        """The settings to continue the run in ``run_dir`` with.

        Args:
            run_dir: the run folder.
            given: the settings the user set explicitly (field name -> value, in the form
                :meth:`from_dict` reads); every other setting is the recorded one.

        Raises:
            InputError: the run's record is missing or unreadable; a given setting differs
                from the recorded one and may not change (naming its flag).
        """
        recorded = cls.recorded(run_dir)
        names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values = {key: value for key, value in recorded.items() if key in names}
        values.update(out=str(run_dir), resume=str(run_dir))
        values.update(given)
        settings = cls.from_dict(values, origin=str(Path(run_dir) / CONFIG_FILE))
        settings.check_resumable(recorded)
        return settings

    def may_change(self, name: str) -> bool:
        """Whether a resumed run may use another value of the setting ``name``."""
        return name in self.RESUMABLE

    def check_resumable(self, recorded: Mapping[str, Any]) -> None:
        """Refuse settings that differ from the ``recorded`` ones of the run being resumed.

        Raises:
            InputError: naming the flag of the first setting that changed and may not change.
        """
        for name, value in self.record().items():
            if name in recorded and recorded[name] != value and not self.may_change(name):
                flag = self.flag(name)
                raise InputError(
                    f"--resume {self.resume}: {flag} would change the run's {name} from "
                    f"{_shown(recorded[name])} to {_shown(value)}; leave {flag} out to keep "
                    "the run's value" + self.resume_hint(name)
                )

    def resume_hint(self, name: str) -> str:
        """Text added to the refusal of a change to ``name`` (empty by default)."""
        return ""

    def check_values(self, checks: Iterable[tuple[str, bool, str]]) -> None:
        """Raise for the first ``(flag, ok, requirement)`` that is not ``ok``, with the value.

        The training-loop settings every subclass has (``batch_size``, ``checkpoint_every``,
        ``checkpoint_minutes``) are checked after ``checks``.
        """
        loop_checks = (
            ("--batch-size", self.batch_size >= 1, "must be positive"),
            ("--checkpoint-every", self.checkpoint_every >= 1, "must be positive"),
            ("--checkpoint-minutes", self.checkpoint_minutes >= 0, "must be >= 0"),
        )
        for flag, ok, requirement in (*checks, *loop_checks):
            if not ok:
                value = getattr(self, flag[2:].replace("-", "_"))
                raise InputError(f"{flag} {value!r}: {requirement}")

    def trainer_options(self) -> dict[str, Any]:
        """The :class:`~textmask_ocr.engine.TrainerConfig` fields these settings give."""
        names = ("batch_size", "seed", "amp", "log_every", "eval_every", "checkpoint_every",
                 "checkpoint_minutes", "quiet", "deterministic")  # fmt: skip
        return {"num_workers": self.workers, **{name: getattr(self, name) for name in names}}


def check_ratios(flag: str, ratios: Sequence[float] | None, sources: int, source_flag: str) -> None:
    """Refuse sampling ratios (one per ``source_flag``) that are not >= 0 with a positive sum."""
    if ratios is None:
        return
    if len(ratios) != sources:
        raise InputError(f"{flag} given {len(ratios)} times for {sources} {source_flag}")
    if not all(0 <= ratio < float("inf") for ratio in ratios) or not sum(ratios) > 0:
        raise InputError(f"{flag} {list(ratios)}: must be >= 0 with a positive sum")


def is_positive_number(value: float) -> bool:
    """Whether ``value`` is a finite number above 0 (NaN and infinity are not)."""
    return 0 < value < float("inf")


def _plain(value: Any) -> Any:
    """A setting's JSON form: lists item by item, dicts value by value, other objects as str."""
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(map(str, value)) or "(none)"
    return str(value)


__all__ = ["CONFIG_FILE", "RunSettings", "check_ratios", "is_positive_number"]
