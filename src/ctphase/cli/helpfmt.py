"""How ``--help`` looks: one command class and one group class for every ``ctphase`` command.

Typer 0.2x renders its own help (it vendors click) and labels every parameter with its Python
type: ``--overwrite <bool>`` for a flag that takes no value, ``{paths}...`` in the usage line and
``paths... <list[Path]>`` for an argument. There is no setting that turns this off, so the
classes below tidy each parameter once, where help is built, instead of every command setting
``metavar=`` by hand:

- a flag (``--strict``, ``--help``) shows no value placeholder;
- an argument reads ``PATHS...`` in the usage line and the argument panel, as in click
  (``[NAME]`` when optional); its help text says what it takes;
- a docstring's paragraphs are re-flowed: typer keeps the line breaks of every paragraph but the
  first, which broke sentences in the middle of a terminal line.

Choices (``--device <auto|cpu|cuda>``) come from ``Enum`` option types, which typer lists.
Help strings are rich markup: a literal ``[default: x]`` in them would vanish, so defaults that
typer cannot show are written as ``(default: x)``; ``tests/cli/test_help.py`` checks all of it.
"""

from __future__ import annotations

import inspect
from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


class _Argument(TyperArgument):
    """A positional argument shown the click way: ``PATHS...`` without a type label."""

    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "").upper()

    def display_type_rich(self, ctx: Any) -> str | None:  # noqa: ARG002 - typer's signature
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"


def tidy_param(param: Any) -> None:
    """Give ``param`` a clean help label (idempotent); see the module docstring."""
    if type(param) is TyperArgument:
        param.__class__ = _Argument
    elif isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
        param.metavar = ""  # typer shows the metavar instead of the type; a flag takes no value


def reflow(text: str | None) -> str | None:
    """``text`` with the line breaks inside each paragraph replaced by spaces."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


class _Tidy:
    """Mixin: tidy parameters when they are listed, re-flow the help text once."""

    help: str | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for p in params:
            tidy_param(p)
        return params


class Command(_Tidy, TyperCommand):
    """The class of every ``ctphase`` command."""


class Group(_Tidy, TyperGroup):
    """The class of ``ctphase`` and ``ctphase paper``."""


__all__ = ["Command", "Group", "reflow", "tidy_param"]
