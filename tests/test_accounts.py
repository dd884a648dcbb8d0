"""MAX accounts get person ids of the product's own, from 2^40 on, and keep them."""

from __future__ import annotations

from pathlib import Path

from bot.max import MaxAccounts
from storage.accounts import FIRST_OTHER_PERSON, AccountRepository
from storage.db import Database


async def test_a_max_account_gets_a_person_id_from_2_40_on_and_keeps_it(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.db")
    try:
        # A VK-born person already has an account (the 0008 trigger does it for people).
        await db.execute(
            "INSERT INTO accounts (platform, external_id, person_id) VALUES ('vk', '5', 5)"
        )
        repo = AccountRepository(db)
        first = await repo.persons_of("max", ["900", "901", "900"])
        assert first == {"900": FIRST_OTHER_PERSON, "901": FIRST_OTHER_PERSON + 1}
        again = await repo.persons_of("max", ["901", "902"])
        assert again == {"901": FIRST_OTHER_PERSON + 1, "902": FIRST_OTHER_PERSON + 2}
        # The same number on VK is another account, another person.
        assert await repo.all("vk") == {"5": 5}
        assert await repo.all("max") == {
            "900": FIRST_OTHER_PERSON,
            "901": FIRST_OTHER_PERSON + 1,
            "902": FIRST_OTHER_PERSON + 2,
        }
    finally:
        await db.close()


async def test_an_allocation_rolled_back_is_not_remembered(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.db")
    try:
        repo = AccountRepository(db)
        try:
            async with db.transaction():
                await repo.persons_of("max", ["700"])
                raise RuntimeError("the update failed")
        except RuntimeError:
            pass
        assert await repo.all("max") == {}
        assert await repo.persons_of("max", ["701"]) == {"701": FIRST_OTHER_PERSON}
    finally:
        await db.close()


async def test_the_adapter_caches_accounts_both_ways_across_a_restart(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.db")
    try:
        accounts = MaxAccounts(AccountRepository(db))
        await accounts.learn([42, 43])
        assert accounts.person(42) == FIRST_OTHER_PERSON
        assert accounts.user(FIRST_OTHER_PERSON + 1) == 43
        assert accounts.person(44) is None
        restarted = MaxAccounts(AccountRepository(db))
        await restarted.load()
        assert restarted.person(43) == FIRST_OTHER_PERSON + 1
        assert restarted.user(FIRST_OTHER_PERSON) == 42
    finally:
        await db.close()
