"""`weijian kb import|export|search` against the test database."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from case_core.settings import Settings
from knowledge_base import cli


def run(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    return cli.run(parser.parse_args(["kb", *argv]), settings)


def test_search_prints_the_documented_json(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(settings, "search", "护士首次注册要哪些材料", "--k", "3", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert len(body["results"]) == 3 and body["results"][0]["id"] == "faq-0010"
    assert set(body["results"][0]) == {"id", "question", "score"}


def test_import_reports_progress_and_counts_and_refuses_bad_files(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "kb.yaml"
    good.write_text("entries:\n  - {id: cli-test-1, question: 命令行导入的问题, answer: 命令行导入的答案}\n", "utf-8")
    assert run(settings, "import", str(good), "--draft") == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["created"] + json.loads(out.out)["unchanged"] == 1 and "1/1" in out.err
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries:\n  - {id: x, question: 问}\n", "utf-8")
    assert run(settings, "import", str(bad)) == 2
    assert json.loads(capsys.readouterr().err)["error"]["code"] == "kb_file_invalid"
    assert run(settings, "import", str(tmp_path / "missing.yaml")) == 2


def test_export_writes_rasa_retrieval_intents(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out.yml"
    assert run(settings, "export", "--format", "rasa", "-o", str(out)) == 0
    assert "intent: faq/faq-0105" in out.read_text("utf-8")
