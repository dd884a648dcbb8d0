"""`confirmbot demo` for every district size the command accepts, the smallest included."""

from __future__ import annotations

import pytest

from bot.__main__ import main
from bot.demo import _behaviours


@pytest.mark.parametrize("schools", [3, 4, 5])
def test_demo_of_a_small_district_runs_to_the_end(
    schools: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # 3 and 4 used to end in "coroutine raised StopIteration": no school finished.
    assert main(["demo", "--schools", str(schools)]) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert f"District: {schools} schools" in out
    assert "VK API calls made by the bot" in out
    assert "simulated head(s) failed" not in out
    # Several orders at once (issue 14): the second order, the head's card, the staff's item.
    assert "Открытые приказы: 2" in out
    assert "Принято: ✅ 1 Родительские собрания — выполнено" in out
    assert "[кнопки: Приказ № 48 | Приказ № 47]" in out
    assert "✅ 2.1 Регистрация в Сферуме — выполнено" in out


@pytest.mark.parametrize("schools", [*range(3, 40), 200, 5000])
def test_every_district_has_a_finisher_one_in_progress_and_one_silent(schools: int) -> None:
    kinds = _behaviours(schools)
    assert len(kinds) == schools
    assert {"done", "partial", "silent"} <= set(kinds)
    if schools >= 5:
        assert {"problem", "text"} <= set(kinds)


@pytest.mark.parametrize("schools", ["2", "5001"])
def test_demo_refuses_a_district_out_of_range(
    schools: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--schools", schools]) == 2
    assert "3" in capsys.readouterr().err


def test_demo_on_max_tells_the_same_story(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--schools", "5", "--messenger", "max"]) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert "MAX API calls made by the bot" in out
    assert "Выполнили все пункты: 2 из 5 школ" in out
    assert "simulated head(s) failed" not in out
    # A district wholly on MAX: each head and deputy once, not again as a VK person.
    assert "из 10 человек" in out
