"""`confirmbot demo`: the whole story on the built-in VK API emulator, no token, no network.

It replays October 2023: order No. 47 is announced, simulated heads press the buttons the bot
really sent (most finish, some stay in progress, one reports a problem, some stay silent), and
then an admin asks for `статус` and `должники`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot import texts
from bot.campaign import default_campaign_path, load_campaign
from bot.clock import FakeClock
from bot.domain import Campaign, Person, Role, School, Step
from bot.max import strip_marker
from bot.max_emulator import MaxEmulator
from bot.max_emulator import SentMessage as MaxSent
from bot.sandbox import (
    ADMIN_CHAT,
    HEADS_CHAT,
    MAX_ADMIN_CHAT,
    MAX_HEADS_CHAT,
    Sandbox,
    start_sandbox,
)
from bot.vk_emulator import SentMessage, VKEmulator

ADMIN_ID = 900_001
_WAIT = 20.0

_VILLAGES = [
    ("Аксайская", "Аксай"),
    ("Эндиреевская", "Эндирей"),
    ("Костековская", "Костек"),
    ("Бамматюртовская", "Бамматюрт"),
    ("Карланюртовская", "Карланюрт"),
    ("Османюртовская", "Османюрт"),
    ("Генжеаульская", "Генжеаул"),
    ("Муцалаульская", "Муцалаул"),
    ("Тотурбийкалинская", "Тотурбийкала"),
    ("Кандаураульская", "Кандаураул"),
    ("Боташюртовская", "Боташюрт"),
    ("Садовая", "Садовое"),
    ("Солнечная", "Солнечное"),
    ("Покровская", "Покровское"),
    ("Байрамаульская", "Байрамаул"),
]
_MEN = ["Магомед", "Ахмед", "Расул", "Шамиль", "Гаджи", "Мурад", "Руслан", "Ибрагим", "Арсен"]
_WOMEN = ["Патимат", "Зарема", "Марьям", "Аминат", "Саида", "Заира", "Хадижат", "Мадина"]
_SURNAMES = [
    "Магомедов",
    "Алиев",
    "Гаджиев",
    "Абдулаев",
    "Исмаилов",
    "Омаров",
    "Курбанов",
    "Салихов",
    "Мусаев",
    "Шахбанов",
]
_PATRONYMS_M = ["Расулович", "Гаджиевич", "Магомедович", "Ахмедович", "Шамилевич"]
_PATRONYMS_F = ["Расуловна", "Гаджиевна", "Магомедовна", "Ахмедовна", "Шамилевна"]


@dataclass(frozen=True)
class DemoPerson:
    person: Person
    first: str
    last: str


def synthetic_district(count: int, rng: random.Random) -> tuple[list[School], list[DemoPerson]]:
    """Schools of the Khasavyurt district with a head and a deputy each."""
    schools: list[School] = []
    people: list[DemoPerson] = []
    for n in range(1, count + 1):
        adjective, _village = _VILLAGES[(n - 1) % len(_VILLAGES)]
        number = (n - 1) // len(_VILLAGES) + 1
        school = School(id=f"{n:03d}", name=f"МКОУ «{adjective} СОШ №{number}»")
        schools.append(school)
        for role, person_id in ((Role.HEAD, 500_000 + n), (Role.DEPUTY, 600_000 + n)):
            female = rng.random() < 0.5
            first = rng.choice(_WOMEN if female else _MEN)
            last = rng.choice(_SURNAMES) + ("а" if female else "")
            patronym = rng.choice(_PATRONYMS_F if female else _PATRONYMS_M)
            person = Person(
                person_id=person_id,
                school_id=school.id,
                full_name=f"{last} {first} {patronym}",
                role=role,
            )
            people.append(DemoPerson(person, first, last))
    return schools, people


class _CardHead:
    """What a head does with the card on either messenger: press an item and a state, or
    type the numbers of a count item. `emu` is the messenger's emulator, `card` the card
    message it sent (both emulators press and wait alike)."""

    emu: Any
    person_id: int
    card: Any

    async def say(self, text: str, *, expect: str) -> Any:
        raise NotImplementedError

    async def press_step(self, step_id: str, state_label: str) -> None:
        card = self._card()
        label = next(label for label in card.labels if label.startswith(f"{step_id} "))
        self.emu.press(self.person_id, card, label)
        await self.emu.wait_for(lambda: state_label in card.labels, _WAIT)
        mark = {"Выполнено": "✅", "В работе": "⏳", "Проблема": "⚠️"}[state_label]
        self.emu.press(self.person_id, card, state_label)
        await self.emu.wait_for(lambda: f"{mark} {step_id}" in card.text, _WAIT)

    async def type_numbers(self, step_id: str, numbers: str) -> None:
        card = self._card()
        label = next(label for label in card.labels if label.startswith(f"{step_id} "))
        self.emu.press(self.person_id, card, label)
        await self.emu.wait_for(lambda: "сколько подключено" in card.text, _WAIT)
        await self.say(numbers, expect="Принято")
        self.emu.press(self.person_id, card, texts.BUTTON_BACK)
        await self.emu.wait_for(
            lambda: "Осталось" in card.text or "Все пункты" in card.text, _WAIT
        )

    def _card(self) -> Any:
        if self.card is None:
            raise RuntimeError("the card has not been opened")
        return self.card


class SimulatedHead(_CardHead):
    """A head on a phone: presses the buttons the bot sent, types when asked to."""

    emu: VKEmulator

    def __init__(self, emulator: VKEmulator, person_id: int, school: School) -> None:
        self.emu = emulator
        self.person_id = person_id
        self.school = school
        self.card: SentMessage | None = None

    async def open_card(self, announcement: SentMessage) -> None:
        """Press «Отчитаться»; if VK would not let the bot write, write to it first."""
        mention = f"[id{self.person_id}|"
        self.emu.press(self.person_id, announcement, texts.BUTTON_REPORT)
        await self.emu.wait_for(
            lambda: (
                bool(self.emu.messages_to(self.person_id))
                or any(mention in m.text for m in self.emu.messages_to(HEADS_CHAT))
            ),
            _WAIT,
        )
        if not self.emu.messages_to(self.person_id):
            self.emu.push_message_new(
                from_id=self.person_id, peer_id=self.person_id, text="Здравствуйте"
            )
        self.card = await self.emu.wait_for_message(
            self.person_id, contains=self.school.name, timeout=_WAIT
        )

    async def acknowledge(self, announcement: SentMessage) -> None:
        before = len(self.emu.event_answers)
        self.emu.press(self.person_id, announcement, texts.BUTTON_ACKNOWLEDGE)
        await self.emu.wait_for(lambda: len(self.emu.event_answers) > before, _WAIT)

    async def say(self, text: str, *, expect: str) -> SentMessage:
        count = len([m for m in self.emu.messages_to(self.person_id) if expect in m.text])
        self.emu.push_message_new(from_id=self.person_id, peer_id=self.person_id, text=text)
        return await self.emu.wait_for_message(
            self.person_id, contains=expect, count=count + 1, timeout=_WAIT
        )


class MaxHead(_CardHead):
    """The same head on MAX: opens the bot's dialog, then presses and types as on VK."""

    emu: MaxEmulator

    def __init__(self, emulator: MaxEmulator, user_id: int, school: School) -> None:
        self.emu = emulator
        self.person_id = user_id
        self.school = school
        self.card: MaxSent | None = None

    def _matching(self, contains: str) -> list[MaxSent]:
        sent = self.emu.messages_to_user(self.person_id)
        return [m for m in sent if contains in strip_marker(m.text)]

    async def _message(self, contains: str, count: int = 1) -> MaxSent:
        await self.emu.wait_for(lambda: len(self._matching(contains)) >= count, _WAIT)
        return self._matching(contains)[count - 1]

    async def open_card(self, announcement: Any) -> None:
        """Open the bot (MAX lets a bot write only to whoever did), then «Отчитаться»."""
        self.emu.start_bot(self.person_id)
        self.emu.press(self.person_id, announcement, texts.BUTTON_REPORT)
        self.card = await self._message(self.school.name)

    async def acknowledge(self, announcement: Any) -> None:
        before = len(self.emu.answers)
        self.emu.press(self.person_id, announcement, texts.BUTTON_ACKNOWLEDGE)
        await self.emu.wait_for(lambda: len(self.emu.answers) > before, _WAIT)

    async def say(self, text: str, *, expect: str) -> MaxSent:
        count = len(self._matching(expect))
        self.emu.write(self.person_id, text)
        return await self._message(expect, count + 1)


async def _play(head: SimulatedHead | MaxHead, kind: str, announcement: Any) -> None:
    """One school's behaviour in the story."""
    if kind == "silent":
        return
    await head.acknowledge(announcement)
    await head.open_card(announcement)
    if kind == "text":
        for step in ("3.1", "3.3", "3.4", "3.5"):
            await head.say(f"{step} выполнено", expect="Принято")
        await head.say("3.2 педагоги 38/38 ученики 412/412", expect="Принято")
        return
    await head.press_step("3.1", "Выполнено")
    await head.press_step("3.3", "Выполнено")
    if kind == "problem":
        await head.press_step("3.4", "Проблема")
        await head.say("нет интернета в кабинетах, ждём подключения", expect="Принято")
        return
    await head.press_step("3.4", "Выполнено")
    if kind == "partial":
        await head.press_step("3.5", "В работе")
        await head.type_numbers("3.2", "педагоги 41/45 ученики 350/398")
        return
    await head.press_step("3.5", "Выполнено")
    await head.type_numbers("3.2", "педагоги 45/45 ученики 398/398")


# What the story shows, most needed first: a district of 3 schools still has a head who
# finishes (and one VK will not let the bot write to), one in progress and one silent.
_ESSENTIAL = ("done", "partial", "silent", "problem", "text")


def _behaviours(count: int) -> list[str]:
    """Most finish, some stay in progress, one reports a problem, some stay silent; from 3
    schools on there is always one that finishes, one in progress and one silent."""
    silent = max(1, count // 6)
    partial = max(1, count // 5)
    if count < len(_ESSENTIAL):
        return list(_ESSENTIAL[:count])
    kinds = ["problem", "text"] + ["partial"] * partial + ["silent"] * silent
    return (kinds + ["done"] * count)[:count][::-1]


def _section(title: str) -> None:
    print(f"\n{'═' * 72}\n{title}\n{'═' * 72}")


async def _ask_admin(box: Sandbox, command: str, expect: str) -> str:
    emu = box.emulator
    before = len(emu.messages_to(ADMIN_CHAT))
    box.say(ADMIN_ID, command, peer_id=ADMIN_CHAT)
    await emu.wait_for(lambda: len(emu.messages_to(ADMIN_CHAT)) > before, _WAIT)
    await emu.wait_for_message(ADMIN_CHAT, contains=expect, timeout=_WAIT)
    return "\n".join(m.text for m in emu.messages_to(ADMIN_CHAT)[before:])


async def run_demo(*, schools: int = 12, seed: int = 47, messenger: str = "vk") -> int:
    logging.getLogger().setLevel(logging.WARNING)
    rng = random.Random(seed)  # noqa: S311 - names for a demo, not secrets
    campaign = load_campaign(default_campaign_path())
    moscow = ZoneInfo(campaign.timezone)
    clock = FakeClock(dt.datetime(2023, 10, 17, 10, 0, tzinfo=moscow))
    district, people = synthetic_district(schools, rng)
    with tempfile.TemporaryDirectory(prefix="confirmbot-demo-") as workdir:
        box = await start_sandbox(
            Path(workdir),
            schools=district,
            people=[p.person for p in people],
            admins=[ADMIN_ID],
            clock=clock,
            campaign=campaign,
            names={p.person.person_id: (p.first, p.last) for p in people},
            max_people=messenger == "max",
            vk_people=messenger != "max",
        )
        try:
            if messenger == "max":
                return await _max_story(box, district, people)
            return await _story(box, district, people, clock)
        finally:
            await box.close()


async def _story(
    box: Sandbox, district: list[School], people: list[DemoPerson], clock: FakeClock
) -> int:
    emu = box.emulator
    heads = {p.person.school_id: p.person.person_id for p in people if p.person.role is Role.HEAD}
    print(
        "confirmbot demo: a VK community bot, here talking to a built-in VK API emulator\n"
        f"(no token, no network). District: {len(district)} schools, "
        f"{len(people)} heads and deputies. Time: 17.10.2023 10:00 (Moscow), "
        "three days before the order's deadline."
    )
    _section("1. An admin writes «/объявить» in the admin chat; the heads chat receives:")
    box.say(ADMIN_ID, "/объявить", peer_id=ADMIN_CHAT)
    announcement = await emu.wait_for_message(HEADS_CHAT, contains="Приказ №", timeout=_WAIT)
    print(announcement.text)
    print(f"[кнопки: {' | '.join(announcement.labels)}]")

    kinds = _behaviours(len(district))
    # One head has not allowed the community to write to them (VK error 901).
    unreachable_school = next(
        (s for s, k in zip(district, kinds, strict=True) if k == "done"), None
    )
    if unreachable_school is not None:
        emu.set_allows_messages(heads[unreachable_school.id], False)
    simulated = [SimulatedHead(emu, heads[school.id], school) for school in district]
    _section("2. Heads press «Отчитаться» and answer on their phones (simulated clients)")
    results = await asyncio.gather(
        *(_play(h, k, announcement) for h, k in zip(simulated, kinds, strict=True)),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    print(
        "behaviours: "
        + ", ".join(f"{_KIND_NAMES[k]}: {n}" for k, n in counts.items())
        + f"; answers stored: {len(await box.app.repos.answers.history(box.app.campaign.id))}"
    )
    fallback = [m for m in emu.messages_to(HEADS_CHAT) if "не удаётся написать" in m.text]
    if fallback:
        print("\nVK refused a private message (error 901); the heads chat got instead:")
        print(fallback[0].text.split("\n\n")[0])
    sample = next(
        (h for h, k in zip(simulated, kinds, strict=True) if k == "partial"), simulated[0]
    )
    if sample.card is not None:
        print(f"\nWhat the head of {sample.school.name} sees now (the card, edited in place):")
        print(sample.card.text)
        print(f"[кнопки: {' | '.join(sample.card.labels)}]")

    clock.advance(3600)
    _section("3. The admin asks «статус»:")
    print(await _ask_admin(box, "статус", "Выполнили все пункты"))
    _section("4. The admin asks «должники»:")
    print(await _ask_admin(box, "должники", "Не выполнили"))
    _section("5. The admin asks about one school: «статус " + sample.school.id + "»")
    print(await _ask_admin(box, f"статус {sample.school.id}", sample.school.name))
    _section("6. The admin writes «/напомнить»; schools that still owe get a reminder")
    print(await _ask_admin(box, "/напомнить", "Напоминания отправлены"))
    silent = next((h for h, k in zip(simulated, kinds, strict=True) if k == "silent"), None)
    reminder = None
    if silent is not None:
        reminder = next((m for m in emu.messages_to(silent.person_id) if "⏰" in m.text), None)
    if silent is not None and reminder is not None:
        print(f"\nWhat the silent head of {silent.school.name} received:")
        print(reminder.text)
        print(f"[кнопки: {' | '.join(reminder.labels)}]")
    await _second_order(box, simulated[0])
    print(
        "\nOn its own the bot also reminds 3 days, 1 day and 3 hours before the deadline "
        "(never at night, and on working days only), posts a daily summary to the admin chat on "
        "working days, a final one at the "
        "deadline, and escalates overdue schools to the controller after it."
    )
    print(
        f"\nVK API calls made by the bot: {len(emu.calls)}; "
        f"messages sent: {len(emu.sent)}; edited in place: {sum(m.edited for m in emu.sent)}."
    )
    if failures:
        print(f"\n{len(failures)} simulated head(s) failed: {failures[0]!r}")
        return 1
    return 0


# A second order, as `confirmbot campaign add order_48.toml` adds it while the bot runs.
SECOND_ORDER = Campaign(
    id="order_48",
    title="О проведении родительских собраний по безопасности в сети",
    number="48",
    date=dt.date(2023, 10, 17),
    issuer="МКУ «Управление образования» МО «Хасавюртовский район»",
    deadline=dt.datetime(2023, 10, 27, 18, 0, tzinfo=ZoneInfo("Europe/Moscow")),
    timezone="Europe/Moscow",
    steps=(
        Step(
            id="1",
            title="провести родительские собрания по безопасности детей в сети",
            short_title="Родительские собрания",
        ),
        Step(
            id="2",
            title="разместить информацию о собраниях на сайте образовательной организации",
            short_title="Информация на сайте",
        ),
    ),
)


async def _second_order(box: Sandbox, head: SimulatedHead) -> None:
    """Several orders at once: one added from the command line, and the admin's own items."""
    emu = box.emulator
    _section(
        "7. A second order arrives while the bot runs («confirmbot campaign add order_48.toml»);"
        "\n   the admin writes «приказы»"
    )
    await box.app.repos.campaigns.save(SECOND_ORDER, box.app.clock.now())
    await box.app.scheduler.tick()  # the running bot's next tick picks it up
    print(await _ask_admin(box, "приказы", "Открытые приказы"))
    _section("8. A head types «1 выполнено»: only order No. 48 has item 1, so it goes there")
    before = len(emu.messages_to(head.person_id))
    receipt = await head.say("1 выполнено", expect="Принято")
    print(receipt.text)
    await emu.wait_for(lambda: len(emu.messages_to(head.person_id)) > before, _WAIT)
    card = await head.say("карточка", expect="По каким приказам")
    print(f"\nThe head's card now lists the open orders:\n{card.text}")
    print(f"[кнопки: {' | '.join(card.labels)}]")
    _section("9. The admin confirms their own item 2.1 of order No. 47 in private")
    box.say(ADMIN_ID, "2.1 выполнено")
    own = await emu.wait_for_message(ADMIN_ID, contains="Ваши пункты", timeout=_WAIT)
    print(own.text)


_KIND_NAMES = {
    "done": "finished by buttons",
    "text": "finished by text",
    "partial": "partly in progress",
    "problem": "reported a problem",
    "silent": "silent",
}


_TAGS = re.compile(r"<[^>]+>")


async def _max_story(box: Sandbox, district: list[School], people: list[DemoPerson]) -> int:
    """The same story on the MAX emulator: the same rules, database and outbox as on VK."""
    emu = box.max_emulator
    if emu is None:
        raise RuntimeError("the sandbox runs no MAX")
    heads = {p.person.school_id: p.person.person_id for p in people if p.person.role is Role.HEAD}
    print(
        "confirmbot demo on MAX: the same bot, here talking to a built-in MAX Bot API emulator\n"
        f"(no token, no network). District: {len(district)} schools; every head is on MAX."
    )

    def chat_texts(chat: int) -> list[str]:
        # MAX's HTML mentions shown as the names people see.
        return [_TAGS.sub("", strip_marker(m.text)) for m in emu.messages_in_chat(chat)]

    async def ask(command: str, expect: str) -> str:
        before = len(chat_texts(MAX_ADMIN_CHAT))
        emu.write(ADMIN_ID, command, chat_id=MAX_ADMIN_CHAT)
        await emu.wait_for(
            lambda: any(expect in t for t in chat_texts(MAX_ADMIN_CHAT)[before:]), _WAIT
        )
        return "\n".join(chat_texts(MAX_ADMIN_CHAT)[before:])

    _section("1. An admin writes «/объявить» in the MAX admin chat; the MAX heads chat receives:")
    emu.write(ADMIN_ID, "/объявить", chat_id=MAX_ADMIN_CHAT)
    await emu.wait_for(lambda: any("Приказ №" in t for t in chat_texts(MAX_HEADS_CHAT)), _WAIT)
    announcement = next(m for m in emu.messages_in_chat(MAX_HEADS_CHAT) if "Приказ №" in m.text)
    print(strip_marker(announcement.text))
    print(f"[кнопки: {' | '.join(announcement.labels)}]")
    kinds = _behaviours(len(district))
    simulated = [MaxHead(emu, heads[school.id], school) for school in district]
    _section("2. Heads open the bot, press «Отчитаться» and answer (simulated MAX clients)")
    results = await asyncio.gather(
        *(_play(h, k, announcement) for h, k in zip(simulated, kinds, strict=True)),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    answers = len(await box.app.repos.answers.history(box.app.campaign.id))
    print(f"answers stored: {answers}")
    sample = next((h for h, k in zip(simulated, kinds, strict=True) if k == "partial"), None)
    if sample is not None and sample.card is not None:
        print(f"\nWhat the head of {sample.school.name} sees now (the card, edited in place):")
        print(strip_marker(sample.card.text))
    _section("3. The admin asks «статус» in the MAX admin chat:")
    print(await ask("статус", "Выполнили все пункты"))
    _section("4. The admin asks «должники»:")
    print(await ask("должники", "Не выполнили"))
    print(
        f"\nMAX API calls made by the bot: {len(emu.calls)}; messages sent: {len(emu.sent)}; "
        f"edited in place: {sum(bool(m.versions) for m in emu.sent)}."
    )
    if failures:
        print(f"\n{len(failures)} simulated head(s) failed: {failures[0]!r}")
        return 1
    return 0
