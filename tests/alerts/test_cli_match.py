"""``tidings match``: alerts from options and a file, articles from JSON lines and HTML pages."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tidings.cli import main

DATA = Path(__file__).parent / "data"


def _articles(tmp_path: Path) -> Path:
    rows = [
        {
            "id": "a1",
            "title": "Assad to meet Kim Jong-un",
            "text": "Trump was not there.",
            "url": "https://www.oneindia.com/world/1",
        },
        {"id": 2, "title": "Weather", "text": "Rain in North Korea.", "language": "en"},
        {"id": 3, "title": "Nothing", "text": "Nothing to see."},
    ]
    path = tmp_path / "articles.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    return path


def _run(*args: str):
    return CliRunner().invoke(main, ["match", *args], catch_exceptions=False)


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


def test_matches_in_article_then_alert_order_with_file_alerts_numbered_after_options(tmp_path):
    alerts = tmp_path / "alerts.txt"
    alerts.write_text("# my alerts\n\nnorth korea\n  site:oneindia.com  \n")
    result = _run(
        "--alert",
        '"Kim Jong Un"',
        "--alert",
        "assad -trump",
        "--alerts",
        str(alerts),
        str(_articles(tmp_path)),
    )
    assert result.exit_code == 0, result.output
    assert _lines(result.output) == [
        {"article": "a1", "alert": 1, "terms": ["kim jong un"]},
        {"article": "a1", "alert": 4, "terms": []},
        {"article": 2, "alert": 3, "terms": ["north", "korea"]},
    ]


def test_no_match_prints_nothing_and_exits_0(tmp_path):
    result = _run("--alert", "putin", str(_articles(tmp_path)))
    assert (result.exit_code, result.output) == (0, "")


def test_invalid_query_exits_2_naming_the_alert(tmp_path):
    result = CliRunner().invoke(
        main, ["match", "--alert", "kim", "--alert", 'assad "north', str(_articles(tmp_path))]
    )
    assert result.exit_code == 2
    assert "alert 2: unbalanced quote at column 7" in result.stderr
    assert result.stdout == ""


def test_bad_article_line_exits_1(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"id": 1, "title": "kim", "text": ""}\n{"title": "no id"}\n')
    result = CliRunner().invoke(main, ["match", "--alert", "kim", str(path)])
    assert result.exit_code == 1
    assert _lines(result.stdout) == [{"article": 1, "alert": 1, "terms": ["kim"]}]
    assert "broken.jsonl:2" in result.stderr


def test_html_article_is_extracted_first_and_its_id_is_the_path():
    page = str(DATA / "seed_page.html")
    result = _run(
        "--alert",
        '"Kim Jong Un"',
        "--alert",
        'assad "north korea" -trump',
        "--alert",
        "site:oneindia.com intitle:assad",
        "--alert",
        "allow notifications",  # page chrome: extraction leaves it out
        page,
    )
    assert result.exit_code == 0, result.output
    assert _lines(result.output) == [
        {"article": page, "alert": 1, "terms": ["kim jong un"]},
        {"article": page, "alert": 3, "terms": ["assad"]},
    ]
