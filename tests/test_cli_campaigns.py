"""`confirmbot campaign add|list|close` and `report --campaign`, run in-process (issue 14)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.test_cli import FIRST_ROSTER, GOOD_CONFIG, cli, db_rows, record_answer, write

ORDER_48 = """
[campaign]
id = "order_48"
title = "О проведении родительских собраний"
number = "48"
date = 2023-10-17
deadline = 2023-10-25T18:00:00
timezone = "Europe/Moscow"

[[steps]]
id = "1"
title = "провести родительское собрание"
short_title = "Собрание"

[[steps]]
id = "2"
title = "разместить протокол собрания на сайте школы"
short_title = "Протокол на сайте"
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    config = write(tmp_path / "config.toml", GOOD_CONFIG)
    order = write(tmp_path / "order_48.toml", ORDER_48)
    return config, order


def test_add_list_close(
    setup: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, order = setup
    # The config's campaign first, as the bot stores it when it starts.
    roster = write(config.parent / "roster.csv", FIRST_ROSTER, bom=True)
    assert cli(capsys, caplog, "roster", "import", roster, "--config", config)[0] == 0
    record_answer(config.parent / "bot.db", "s1", "3.1", 123)
    code, out, err = cli(capsys, caplog, "campaign", "add", order, "--config", config)
    assert code == 0, err
    assert "приказ № 48 (order_48) добавлен: пунктов 2, срок 25.10.2023 18:00" in out
    assert "срок приказа 25.10.2023 18:00 уже прошёл" in out  # said, not refused

    code, out, _ = cli(capsys, caplog, "campaign", "list", "--config", config)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("order_48  № 48 от 17.10.2023")
    assert "открыт" in lines[0]
    assert lines[1].startswith("order_47  № 47 от 16.10.2023")

    code, out, _ = cli(capsys, caplog, "campaign", "close", "48", "--config", config)
    assert code == 0
    assert "приказ № 48 (order_48) закрыт" in out
    rows = db_rows(config.parent / "bot.db", "SELECT id, closed_at IS NOT NULL FROM campaigns")
    assert sorted(rows) == [("order_47", 0), ("order_48", 1)]

    code, _, err = cli(capsys, caplog, "campaign", "close", "order_48", "--config", config)
    assert code == 1
    assert "уже закрыт" in err
    code, out, _ = cli(capsys, caplog, "campaign", "list", "--config", config)
    assert "закрыт" in out.splitlines()[-1]
    assert "order_48" in out.splitlines()[-1]


def test_add_refuses_a_duplicate_without_update_and_a_bad_file(
    setup: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, order = setup
    assert cli(capsys, caplog, "campaign", "add", order, "--config", config)[0] == 0
    code, _, err = cli(capsys, caplog, "campaign", "add", order, "--config", config)
    assert code == 1
    assert "уже есть" in err
    assert "--update" in err
    changed = write(order.parent / "order_48b.toml", ORDER_48.replace("18:00:00", "20:00:00"))
    code, out, _ = cli(capsys, caplog, "campaign", "add", changed, "--update", "--config", config)
    assert code == 0
    assert "обновлён" in out
    assert "25.10.2023 20:00" in out
    bad = write(order.parent / "bad.toml", ORDER_48.replace('number = "48"', ""))
    code, _, err = cli(capsys, caplog, "campaign", "add", bad, "--config", config)
    assert code == 2
    assert "number" in err
    # The bad file added nothing; the config's order is known as soon as a command runs.
    rows = db_rows(config.parent / "bot.db", "SELECT id FROM campaigns ORDER BY id")
    assert rows == [("order_47",), ("order_48",)]


def test_unknown_campaign_is_named_with_the_known_ones(
    setup: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, order = setup
    assert cli(capsys, caplog, "campaign", "add", order, "--config", config)[0] == 0
    code, _, err = cli(capsys, caplog, "campaign", "close", "99", "--config", config)
    assert code == 1
    assert "приказа 99 нет" in err
    assert "order_48 (№ 48)" in err


def test_report_names_its_campaign_when_there_are_several(
    setup: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, order = setup
    roster = write(config.parent / "roster.csv", FIRST_ROSTER, bom=True)
    assert cli(capsys, caplog, "roster", "import", roster, "--config", config)[0] == 0
    record_answer(config.parent / "bot.db", "s1", "3.1", 123)
    out_file = config.parent / "report.csv"
    # One campaign: --campaign may be left out.
    assert cli(capsys, caplog, "report", "--config", config, "-o", out_file)[0] == 0
    assert cli(capsys, caplog, "campaign", "add", order, "--config", config)[0] == 0
    code, _, err = cli(capsys, caplog, "report", "--config", config, "-o", out_file)
    assert code == 2
    assert "--campaign" in err
    assert "order_47" in err
    assert "order_48" in err
    code, _, err = cli(
        capsys, caplog, "report", "--config", config, "-o", out_file, "--campaign", "48"
    )
    assert code == 0, err
    with out_file.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["step"] for r in rows} == {"1", "2"}
    assert all(r["status"] == "none" for r in rows)
    code, _, _ = cli(
        capsys, caplog, "report", "--config", config, "-o", out_file, "--campaign", "47"
    )
    assert code == 0
    with out_file.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["step"] for r in rows} == {"3.1", "3.2", "3.3", "3.4", "3.5"}


def test_the_configs_order_is_known_before_the_bot_ever_ran(
    setup: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, order = setup
    assert cli(capsys, caplog, "campaign", "add", order, "--config", config)[0] == 0
    code, out, _ = cli(capsys, caplog, "campaign", "list", "--config", config)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["order_48", "order_47"]
