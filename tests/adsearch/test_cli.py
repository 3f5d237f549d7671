"""The CLI end to end on a small synthetic catalog: synth, ingest, catalog stats, and user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adsearch.cli import main
from adsearch.workspace import Workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    assert main(["--workspace", str(ws), "synth", "--clips", "24", "--seed", "3", "--workers", "1", "--stats"]) == 0
    return ws


@pytest.fixture(scope="module")
def ingested(workspace: Path) -> tuple[Path, str]:
    """The workspace after `adsearch ingest`, with the ingest summary line."""
    import contextlib
    import io

    manifest = Workspace(workspace).synth_dir(24, 3) / "manifest.jsonl"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--workspace", str(workspace), "ingest", str(manifest), "--workers", "1", "--no-ocr"]) == 0
    return workspace, out.getvalue().strip().splitlines()[-1]


def test_synth_writes_a_manifest_and_videos(workspace: Path) -> None:
    out = Workspace(workspace).synth_dir(24, 3)
    assert (out / "manifest.jsonl").is_file()
    assert len(list((out / "videos").glob("*.mp4"))) >= 3


def test_ingest_then_stats(ingested: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    workspace, line = ingested
    assert line.startswith("ingest synth-24-s3:") and "0 failed" in line
    assert main(["--workspace", str(workspace), "catalog", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["videos_by_status"] == {"ok": sum(stats["catalogs"].values())}
    assert stats["clips"] == sum(stats["clips_by_split"].values())
    assert stats["clips"] >= 24
    kinds = {k.split(" ")[0] for k in stats["texts_by_kind"]}
    assert {"reference", "general", "keywords", "asr"} <= kinds
    assert main(["--workspace", str(workspace), "catalog", "stats"]) == 0
    assert "clips by split" in capsys.readouterr().out


def test_user_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workspace", str(tmp_path), "ingest", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "adsearch ingest: error: nothing to ingest at" in err and "Traceback" not in err
    assert main(["--workspace", str(tmp_path / "empty"), "catalog", "stats"]) == 2
    assert "run `adsearch ingest` first" in capsys.readouterr().err


def test_workspace_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ADSEARCH_HOME", str(tmp_path / "home"))
    assert Workspace.resolve().root == tmp_path / "home"
    assert Workspace.resolve(tmp_path / "x").root == tmp_path / "x"


def test_train_retriever_writes_a_checkpoint_and_a_table(
    ingested: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    workspace, _ = ingested
    args = ["--workspace", str(workspace), "train-retriever", "--epochs", "1", "--batch-size", "8", "--model", "t"]
    assert main(args) == 0
    out = capsys.readouterr().out
    ckpt = Workspace(workspace).models_dir / "t"
    assert (ckpt / "config.json").is_file() and (ckpt / "model.safetensors").is_file()
    rows = [line for line in out.splitlines() if line.startswith("| test |")]
    assert {r.split("|")[2].strip() for r in rows} == {"reference", "general", "asr"}, out
    assert main([*args, "--resume"]) == 0, "a finished run resumes as a no-op"
    assert main(args) == 2 and "already holds a training run" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train-retriever", "--model", "tiny"], "'tiny' is an architecture config: use --config tiny"),
        (["train-retriever", "--model", "tiny-meanp"], "use --config tiny-meanp (and --model FOLDER"),
        (["train-retriever", "--name", "t"], "--name was renamed: use --model FOLDER"),
        (["train-captioner", "--kind", "fine", "--model", "tiny-fine"], "use --config tiny-fine"),
        (["train-captioner", "--kind", "fine", "--name", "c"], "--name was renamed: use --model FOLDER"),
        (["caption", "--kind", "fine", "--name", "c"], "--name was renamed: use --model"),
    ],
)
def test_old_spellings_of_config_and_checkpoint_options_fail_naming_the_option_to_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """--config names an architecture, --model a checkpoint folder, in every command; train-retriever's and
    train-captioner's --model used to name the architecture (and --name the folder)."""
    with pytest.raises(SystemExit) as exc:
        main(["--workspace", str(tmp_path), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage:" in err, err
    assert not (tmp_path / "models").exists(), "nothing was trained"


def test_train_retriever_checks_the_config_before_reading_the_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--workspace", str(tmp_path), "train-retriever", "--config", "nope", "--model", "mine"]) == 2
    err = capsys.readouterr().err
    assert "unknown retriever config 'nope'; registered configs: [" in err and "tiny" in err
    assert main(["--workspace", str(tmp_path), "train-captioner", "--kind", "fine", "--config", "nope"]) == 2
    assert "unknown captioner config 'nope'" in capsys.readouterr().err


def test_help_names_config_and_model_options(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["train-retriever"], ["train-captioner"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        out = capsys.readouterr().out
        assert "--config" in out and "--model" in out and "--name" not in out, out


def _leaf_commands(parser, path=()):
    """(command path, parser) of every runnable (sub-)command."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaf_commands(sub, (*path, name))


def _required_args(parser) -> list[str]:
    """Placeholder values for a command's positional and required options."""
    out: list[str] = []
    for a in parser._actions:
        value = str(next(iter(a.choices))) if a.choices else "x"
        if not a.option_strings and a.dest != "help" and a.nargs in (None, 1):
            out.append(value)
        elif a.option_strings and a.required:
            out += [a.option_strings[0], value]
    return out


def test_global_options_work_after_every_command(tmp_path: Path) -> None:
    """Issue 15 defect 10: `adsearch serve --workspace DIR` was refused ("unrecognized arguments")."""
    from adsearch.cli import build_parser

    parser = build_parser()
    leaves = list(_leaf_commands(parser))
    assert {("serve",), ("search",), ("catalog", "stats"), ("index", "build"), ("ingest",)} <= {p for p, _ in leaves}
    for path, leaf in leaves:
        extra = _required_args(leaf)
        args = parser.parse_args([*path, *extra, "--workspace", "after", "-v"])
        assert (args.workspace, args.verbose + args.verbose_after) == ("after", 1), path
        args = parser.parse_args(["--workspace", "before", "-v", *path, *extra])
        assert (args.workspace, args.verbose) == ("before", 1) and not hasattr(args, "verbose_after"), path
        args = parser.parse_args(["--workspace", "before", "-v", *path, *extra, "--workspace", "after", "-v"])
        assert args.workspace == "after" and args.verbose + args.verbose_after == 2, path


def test_workspace_after_the_command_is_used(ingested: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    workspace, _ = ingested
    assert main(["catalog", "stats", "--json", "--workspace", str(workspace)]) == 0
    assert json.loads(capsys.readouterr().out)["clips"] >= 24
    assert main(["serve", "--workspace", str(workspace / "none"), "--port", "7999", "-v"]) == 2
    assert "no catalog at" in capsys.readouterr().err
