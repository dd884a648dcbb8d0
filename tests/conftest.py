"""Shared fixtures: a district of schools and the whole bot on the VK API emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.campaign import default_campaign_path, load_campaign
from bot.clock import FakeClock
from bot.domain import Campaign, Person, Role, School
from bot.sandbox import Sandbox, start_sandbox

ADMIN = 900_001
CONTROLLER = 900_002
STRANGER = 777_777

# School n has head 500000 + n and deputy 600000 + n.
SCHOOL_COUNT = 3


def head_of(n: int) -> int:
    return 500_000 + n


def deputy_of(n: int) -> int:
    return 600_000 + n


def district(count: int = SCHOOL_COUNT) -> tuple[list[School], list[Person]]:
    schools = [School(id=f"s{n}", name=f"МКОУ «СОШ №{n}»") for n in range(1, count + 1)]
    people: list[Person] = []
    for n in range(1, count + 1):
        people.append(
            Person(
                person_id=head_of(n), school_id=f"s{n}", full_name=f"Директор {n}", role=Role.HEAD
            )
        )
        people.append(
            Person(
                person_id=deputy_of(n), school_id=f"s{n}", full_name=f"Завуч {n}", role=Role.DEPUTY
            )
        )
    return schools, people


@pytest.fixture
def campaign() -> Campaign:
    return load_campaign(default_campaign_path())


@pytest.fixture
def clock(campaign: Campaign) -> FakeClock:
    return FakeClock(campaign.deadline - dt.timedelta(days=3))


async def start_district(
    tmp_path: Path,
    clock: FakeClock,
    campaign: Campaign,
    *,
    schools: int = SCHOOL_COUNT,
    **more: Any,
) -> Sandbox:
    """The test district (`district`) with its admin and controller, on the emulators;
    `more` goes to `start_sandbox` (max_people, web_listen, ...)."""
    found, people = district(schools)
    return await start_sandbox(
        tmp_path,
        schools=found,
        people=people,
        admins=[ADMIN],
        controller=CONTROLLER,
        clock=clock,
        campaign=campaign,
        **more,
    )


@pytest.fixture
async def sandbox(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Sandbox]:
    monkeypatch.chdir(tmp_path)
    box = await start_district(tmp_path, clock, campaign)
    try:
        yield box
    finally:
        await box.close()
