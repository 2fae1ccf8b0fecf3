"""``--help`` of every command: no type debris, every choice listed; ``ctphase models`` marks the bundled model."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from ctphase.cli import app

runner = CliRunner()

COMMANDS = [[], ["version"], ["predict"], ["report"], ["train"], ["evaluate"], ["synth"], ["models"], ["export"], ["paper"],
            ["paper", "run"], ["paper", "report"]]
CHOICES = {  # command -> choices its help must list
    ("predict",): ["<auto|cpu|cuda>", "<table|json|jsonl|csv>"],
    ("train",): ["<auto|cpu|cuda>", "<bce|ce>", "<auto|bf16|fp16|off>", "efficientnet_b2", "mobilenetv3_small"],
    ("evaluate",): ["<auto|cpu|cuda>"],
    ("synth",): ["<dicom|nifti>"],
    ("export",): ["<auto|dynamo|legacy>"],
    ("paper", "run"): ["<cpu|tiny>", "architectures", "external"],
}


def _help(args: list[str], columns: int) -> str:
    res = runner.invoke(app, [*args, "--help"], env={"COLUMNS": str(columns)})
    assert res.exit_code == 0, res.output
    return res.output


def _unframed(text: str) -> str:
    """The help text with the panel borders removed and wrapped lines joined."""
    return " ".join(line.strip(" │╭╮╰╯─") for line in text.splitlines())


@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "ctphase")
def test_help_has_no_type_debris(args: list[str], columns: int) -> None:
    text = _help(args, columns)
    assert "<bool>" not in text
    assert "{" not in text and "}" not in text  # typer's {paths}..., RUN_DIR/{best,last}
    assert "`" not in text
    assert "<list[" not in text
    assert max(len(line) for line in text.splitlines()) <= columns
    assert not re.search(r"\w [.;,:](?:\s|$)", _unframed(text))  # what a vanished [markup] leaves: "Epochs ; with"


@pytest.mark.parametrize(("args", "choices"), CHOICES.items(), ids=lambda a: " ".join(a) if isinstance(a, tuple) else "")
def test_help_lists_the_choices(args: tuple[str, ...], choices: list[str]) -> None:
    text = _unframed(_help(list(args), 100))
    for choice in choices:
        assert choice in text, choice


def test_usage_names_arguments_the_click_way() -> None:
    assert "Usage: ctphase predict [OPTIONS] PATHS..." in _help(["predict"], 100)
    assert "Usage: ctphase paper run [OPTIONS] EXPERIMENTS..." in _help(["paper", "run"], 100)


def test_flags_show_no_placeholder_and_quiet_is_everywhere_work_is_long() -> None:
    text = _help(["predict"], 100)
    assert re.search(r"--strict\s+Stop at the first", text)
    for args in (["predict"], ["train"], ["evaluate"], ["synth"], ["paper", "run"]):
        assert re.search(r"--quiet\s+-q", _help(args, 100)), args


def _params(command, path=()):
    """Every (command path, parameter) of the click command tree."""
    for p in command.params:
        yield path, p
    for name, sub in getattr(command, "commands", {}).items():
        yield from _params(sub, (*path, name))


def test_help_strings_hold_no_rich_markup_or_code_quotes() -> None:
    """Help is rich markup: a literal [default: x] would vanish; backticks would show as they are."""
    for path, p in _params(get_command(app)):
        text = p.help or ""
        assert "[" not in text and "`" not in text, (path, p.name, text)


def test_choice_enums_match_the_library() -> None:
    from ctphase.cli.paper import ScaleName
    from ctphase.cli.synth import FORMATS as SYNTH_FORMATS
    from ctphase.cli.train import Amp, Loss
    from ctphase.paper.data import SCALES
    from ctphase.synth.dataset import FORMATS
    from ctphase.training.config import LOSSES

    assert [s.value for s in ScaleName] == list(SCALES)
    assert SYNTH_FORMATS == FORMATS
    assert [x.value for x in Loss] == list(LOSSES)
    assert [a.value for a in Amp] == ["auto", "bf16", "fp16", "off"]


def test_models_marks_the_bundled_architecture() -> None:
    from ctphase.models.checkpoint import default_checkpoint_path, load_checkpoint
    from ctphase.models.registry import DEFAULT_ARCH

    path = default_checkpoint_path()
    if path is None:
        pytest.skip("no bundled model installed")
    bundled = load_checkpoint(path).arch
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"bundled model: {bundled} ")
    tagged = {line.split()[0]: line for line in lines[1:]}
    assert "[bundled" in tagged[bundled]
    assert [name for name, line in tagged.items() if "bundled" in line] == [bundled]
    assert "train default" in tagged[DEFAULT_ARCH]
    assert all("[default" not in line for line in lines)
