"""Every user-facing string, in Russian, and the formatting of replies.

The rules these texts keep (the order's terms, numerals that agree, «58,3 %», quotes inside
quotes, short titles) are in `bot/TEXTS.md`, beside this file; `tests/test_texts.py` checks the
mechanical ones. Numbers, percents and quotes go through `bot/russian.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot import mentions
from bot.domain import Answer, AnswerSource, Campaign, Role, School, Step, StepKind
from bot.domain import StepState as S
from bot.parsing import AdminCommand, AnswerError, AnswerProblem
from bot.russian import counted, number, percent_of, plural, quoted
from bot.status import (
    Changes,
    DistrictStatus,
    PendingSchool,
    PersonState,
    SchoolStatus,
    StaffProgress,
)

if TYPE_CHECKING:  # bot.config imports this module for the command line's messages
    from bot.config import DepartmentConfig

# VK cuts a message at 4096 characters; we split a little below that.
MESSAGE_LIMIT = 4000

BUTTON_MY_ITEMS = "Мои пункты"
BUTTON_REPORT = "Отчитаться"
BUTTON_ACKNOWLEDGE = "Ознакомлен"
BUTTON_BACK = "← Все пункты"

STATE_BUTTON = {S.DONE: "Выполнено", S.IN_PROGRESS: "В работе", S.PROBLEM: "Проблема"}
STATE_NAME = {
    S.DONE: "выполнено",
    S.IN_PROGRESS: "в работе",
    S.PROBLEM: "проблема",
    S.NONE: "нет ответа",
    S.NOT_REQUIRED: "не требуется",
}
STATE_MARK = {
    S.DONE: "✅",
    S.IN_PROGRESS: "⏳",
    S.PROBLEM: "⚠️",
    S.NONE: "▫️",
    S.NOT_REQUIRED: "➖",
}
ROLE_NAME = {Role.HEAD: "руководитель", Role.DEPUTY: "заместитель"}
# How an answer came: «ответ: Иванова А. А., 17.10.2023 10:30, кнопкой».
SOURCE_NAME = {
    AnswerSource.BUTTON: "кнопкой",
    AnswerSource.TEXT: "сообщением",
    AnswerSource.ADMIN: "внёс сотрудник",
}
# What the first number of a count step's part means: «педагоги: подключено 45 из 50».
COUNT_DONE = "подключено"


def _contact(department: DepartmentConfig, *, at: bool = False) -> str:
    """«к сотрудникам Управления образования по телефону +7 (87231) 5-12-34»; with `at`,
    «у сотрудников …» (to get something from them)."""
    phone = f" по телефону {department.phone}" if department.phone else ""
    whom = "у сотрудников" if at else "к сотрудникам"
    return f"{whom} {department.name}{phone}"


def stranger(department: DepartmentConfig) -> str:
    return (
        f"Здравствуйте! Это бот {department.name}: здесь школы отчитываются об исполнении "
        "приказов. Вас нет в списке руководителей школ. Если вы руководитель или заместитель "
        "руководителя школы, напишите «регистрация» и код вашей школы или обратитесь "
        f"{_contact(department)}."
    )


def stranger_short(department: DepartmentConfig) -> str:
    """For a pop-up (VK shows at most 90 characters): `short_name` is at most 30."""
    return f"Вас нет в списке руководителей. Обратитесь к сотрудникам {department.short_name}."


def school_closed(department: DepartmentConfig, names: list[str]) -> str:
    """To a person of a closed school (of closed schools only), instead of a card."""
    if len(names) == 1:
        closed = f"Ваша школа {names[0]} закрыта: отчитываться за неё"
    else:
        closed = "Ваши школы закрыты (" + "; ".join(names) + "): отчитываться за них"
    return (
        f"{closed} в боте больше не нужно, напоминаний не будет. Если это ошибка или вы "
        f"теперь работаете в другой школе, обратитесь {_contact(department)}."
    )


def school_closed_short(department: DepartmentConfig) -> str:
    """For a pop-up (VK shows at most 90 characters): `short_name` is at most 30."""
    return f"Ваша школа закрыта. Обратитесь к сотрудникам {department.short_name}."


STAFF_NOT_A_HEAD = "Эти кнопки — для руководителей школ. Для вас — «статус» и «помощь»."
NOT_YOUR_SCHOOL = (
    "Вы не можете отвечать за эту школу. Карточка вашей школы — по кнопке «Отчитаться»."
)
BAD_BUTTON = "Эта кнопка устарела или повреждена. Напишите «помощь» или нажмите «Отчитаться»."


def admin_only(department: DepartmentConfig) -> str:
    return f"Эта команда — только для сотрудников {department.name}."


def admin_in_heads_chat(department: DepartmentConfig) -> str:
    return (
        f"Эту команду задавайте в беседе {department.short_name} или в личных сообщениях "
        "сообществу."
    )


def unknown_school(query: str) -> str:
    return f"Школа по запросу {quoted(query)} не найдена. Укажите номер школы или часть названия."


SEVERAL_SCHOOLS = "Найдено несколько школ — уточните запрос:\n{items}"
ACK_THANKS = "Спасибо, отмечено: вы ознакомлены с приказом № {number}."
ACK_ALREADY = "Вы уже отметили, что ознакомлены с приказом."
CARD_SENT_PRIVATELY = "Карточка школы отправлена вам в личные сообщения."
CHOOSE_SCHOOL = "Вы отвечаете за несколько школ. Выберите школу:"
ASK_REASON = (
    "Пункт {step}: отмечена проблема. Коротко опишите её одним сообщением, например: «нет "
    "интернета в кабинетах». В беседе начните сообщение с «/»: «/нет интернета»."
)
ASK_COUNTS = (
    "Пункт {step}: {title}\n"
    "Напишите, сколько подключено и сколько всего, например: «{example}» ({done} — сколько "
    "подключено, {total} — сколько всего).\n"
    "В беседе начните с «/»: «/{step} {example}»."
)
ALL_DONE = "Спасибо! {school}: все пункты приказа № {number} выполнены. 🎉"
LATE_NOTE = "Срок прошёл — ответ принят с отметкой «с опозданием»."
SNACK_SAVED = "Принято: пункт {step} — {state}"
ASK_WRITE_TO_COMMUNITY = (
    "{mention}, не удаётся написать вам в личные сообщения. Пожалуйста, напишите сообществу "
    "один раз любое сообщение (например, «помощь»), чтобы бот мог присылать вам карточку школы."
)


def welcome_chat(department: DepartmentConfig, number: str) -> str:
    return (
        f"Здравствуйте! Я бот {department.name}: собираю отчёты школ по приказу № {number}. "
        "Чтобы я видел команды в этой беседе, дайте мне доступ ко всей переписке или пишите "
        "команды с «/» в начале: «/статус», «/помощь»."
    )


ANSWER_ERRORS = {
    AnswerError.UNKNOWN_STEP: "Нет пункта {step}. Пункты приказа: {steps}.",
    AnswerError.NO_STATE: (
        "Не понял ответ по пункту {step}. Напишите, например: «{step} выполнено», "
        "«{step} в работе» или «{step} проблема: нет интернета»."
    ),
    AnswerError.COUNT_FORMAT: (
        "Пункт {step}: нужны числа — сколько подключено и сколько всего, например: «{example}»."
    ),
    AnswerError.COUNT_OVER_TOTAL: (
        "Пункт {step}: {detail} — так не бывает: подключено не может быть больше, чем всего, "
        "а всего должно быть не меньше 1. Например: «{example}»."
    ),
    AnswerError.COUNT_NEGATIVE: "Пункт {step}: числа не могут быть отрицательными ({detail}).",
    AnswerError.COUNT_MISSING_PART: (
        "Пункт {step}: не хватает чисел — {detail}. Напишите, например: «{example}»."
    ),
    AnswerError.COUNT_TOO_LARGE: "Пункт {step}: слишком большое число ({detail}).",
    AnswerError.REASON_TOO_LONG: "Пункт {step}: опишите проблему короче, до 500 знаков.",
    AnswerError.NOT_DONE: (
        "Понял: пункт {step} ещё не выполнен. Отметьте, что с ним: если работа идёт — "
        "«В работе», если что-то мешает — «Проблема»."
    ),
}

HELP_HEAD = (
    "{schools}\n"
    "• «Отчитаться» или любое сообщение — карточка школы с кнопками.\n"
    "• Или сообщением: {examples}.\n"
    "Ответ можно изменить до срока: {deadline}."
)


def help_admin(department: DepartmentConfig) -> str:
    return (
        "Команды (можно с «/», регистр не важен):\n"
        "• статус (status) — сводка по району\n"
        "• статус <номер или часть названия> — одна школа\n"
        "• должники (pending) — школы, которые выполнили не все пункты, с упоминаниями\n"
        "• статус картинка (status chart) — сводка и картинка с ходом исполнения\n"
        "• отчёт (report) — отчёт Excel файлом сюда\n"
        "• напомнить (remind) — напомнить должникам сейчас\n"
        "• расписание (schedule) — что и когда бот отправит сам\n"
        "• пауза (pause) / продолжить (resume) — остановить / возобновить автоматические "
        "сообщения\n"
        "• привязать админ|руководители (bind) — в беседе: сделать её беседой "
        f"{department.short_name} или беседой руководителей\n"
        "• регистрации (registrations) — кто зарегистрировался по коду; отвязать <id> (unbind)\n"
        "• школа 009 (school) — люди школы: из списка или по коду, ознакомлены ли, открыты ли "
        "личные сообщения\n"
        "• объявить (announce) — разослать приказ в беседы руководителей\n"
        "• отметить 009 3.1 выполнено (mark) — внести ответ за школу, например сообщённый "
        "по телефону; числа пишутся как у руководителей\n"
        "• не требуется 009 3.2 причина — пункт не относится к школе (не входит в итоги); "
        "требуется 009 3.2 — отменить\n"
        "• продлить 009 25.10 (extend) — свой срок школе; продлить 009 3.2 25.10 — по одному "
        "пункту; продлить 009 отменить — вернуть срок приказа\n"
        "• приказы (orders) — открытые приказы и ход их исполнения; когда открыто несколько, "
        "номер приказа пишется первым: статус 47, статус 47 009, должники 47, отчёт 47, "
        "объявить 48\n"
        "• мои пункты — ваши собственные пункты приказа (пункты сотрудникам): отмечаются "
        "здесь, в личных сообщениях, например «2.1 выполнено»\n"
        "• войти (login) — в личном диалоге: ссылка на страницу с таблицей школ; выйти "
        "(logout) — закрыть вход\n"
        "• помощь (help) — эта справка"
    )


# A staff member asks for their own items of the open orders (issue 14).
MY_ITEMS_WORDS = frozenset({"мои пункты", "пункты", "мои задачи"})


def local(moment: dt.datetime, timezone: str) -> dt.datetime:
    return moment.astimezone(ZoneInfo(timezone))


def fmt_moment(moment: dt.datetime, timezone: str) -> str:
    return local(moment, timezone).strftime("%d.%m.%Y %H:%M")


def fmt_deadline(campaign: Campaign) -> str:
    return fmt_moment(campaign.deadline, campaign.timezone)


def time_left(campaign: Campaign, now: dt.datetime) -> str:
    """«до срока 2 дня 5 часов (20.10.2023 23:59)», «срок истёк 20.10.2023 23:59, 1 день назад»."""
    delta = campaign.deadline - now
    if delta.total_seconds() <= 0:
        return f"срок истёк {fmt_deadline(campaign)}, {_span(-delta)} назад"
    return f"до срока {_span(delta)} ({fmt_deadline(campaign)})"


def _span(delta: dt.timedelta) -> str:
    """«2 дня 5 часов», «3 часа 15 минут», «15 минут»; zeros left out."""
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    words = []
    if days:
        words.append(counted(days, "день", "дня", "дней"))
    if hours:
        words.append(counted(hours, "час", "часа", "часов"))
    if minutes and not days:
        words.append(counted(minutes, "минута", "минуты", "минут"))
    return " ".join(words) or "меньше минуты"


def of_schools(n: int) -> str:
    """After «из»: «из 1 школы», «из 31 школы», «из 5 школ»."""
    return f"{number(n)} {plural(n, 'школы', 'школ', 'школ')}"


def of_people(n: int) -> str:
    """After «из»: «из 1 человека», «из 21 человека», «из 60 человек»."""
    return f"{number(n)} {plural(n, 'человека', 'человек', 'человек')}"


def out_of(done: int, total: int) -> str:
    """`45 из 50 (90 %)`: a part of a whole, with its share."""
    return f"{number(done)} из {number(total)} ({percent_of(done, total)})"


def mention(person_id: int, name: str) -> str:
    """A mention, rendered by each messenger's adapter as it marks one (`bot/mentions.py`)."""
    return mentions.mention(person_id, name)


BUTTON_LABEL_LIMIT = 40  # VK's limit for a button's label


def step_button_label(step: Step) -> str:
    """«3.1 Структура классов и бесед»; cut at a word with «…» where VK's 40 would cut."""
    label = f"{step.id} {step.short_title}"
    if len(label) <= BUTTON_LABEL_LIMIT:
        return label
    cut = label[: BUTTON_LABEL_LIMIT - 1]
    if " " in cut[len(step.id) + 1 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:—-") + "…"


# Numbers for examples, one pair a part: the first is always the smaller one.
_EXAMPLE_COUNTS = ((45, 50), (380, 412), (12, 15), (7, 9))


def count_example(step: Step) -> str:
    """«педагоги 45 из 50, ученики 380 из 412»: what a head types for a count step."""
    if not step.parts:
        done, total = _EXAMPLE_COUNTS[0]
        return f"{done} из {total}"
    examples = []
    for index, part in enumerate(step.parts):
        done, total = _EXAMPLE_COUNTS[index % len(_EXAMPLE_COUNTS)]
        examples.append(f"{part.title} {done} из {total}")
    return ", ".join(examples)


def answer_error(problem: AnswerProblem, campaign: Campaign) -> str:
    step = campaign.step(problem.step_id)
    return ANSWER_ERRORS[problem.error].format(
        step=problem.step_id or "?",
        steps=", ".join(s.id for s in campaign.steps),
        detail=problem.detail,
        example=count_example(step) if step is not None and step.parts else "45 из 50",
    )


def _count_lines(answer: Answer, step: Step) -> list[str]:
    """«педагоги: подключено 45 из 50 (90 %)», a line for each part answered."""
    lines = []
    for part in step.parts:
        count = answer.counts.get(part.key)
        if count is not None:
            lines.append(f"{part.title}: {COUNT_DONE} {out_of(count.done, count.total)}")
    return lines


def reason_text(reason: str) -> str:
    """A head's reason as it sits inside a sentence of ours: without its own full stop."""
    return reason.strip().rstrip(" .!;,")


def _step_line(step: Step, answer: Answer | None) -> str:
    """«⏳ 3.4 Сферум и VK Мессенджер в школе — в работе», the numbers of a count step under it."""
    state = S.NONE if answer is None else answer.state
    line = f"{STATE_MARK[state]} {step.id} {step.short_title} — {STATE_NAME[state]}"
    if answer is None:
        return line
    if answer.reason:
        line += f": {reason_text(answer.reason)}"
    if answer.late:
        line += " (с опозданием)"
    if step.kind is StepKind.COUNT and answer.counts:
        line += "".join(f"\n   {text}" for text in _count_lines(answer, step))
    return line


def _answer_example(campaign: Campaign, steps: Iterable[Step] | None = None) -> str:
    """«3.1 выполнено» for the first confirm step (of `steps`), or a count step's numbers."""
    candidates = list(campaign.steps if steps is None else steps) or list(campaign.steps)
    for step in candidates:
        if step.kind is StepKind.CONFIRM:
            return f"{step.id} выполнено"
    return f"{candidates[0].id} {count_example(candidates[0])}"


def _left_to_do(owed: list[Step], *, titles: bool) -> str:
    """«Осталось выполнить пункт 3.2» or «Осталось выполнить пункты: …»."""
    if titles:
        items = [f"{s.id} {s.short_title}" for s in owed]
        if len(items) == 1:
            return f"Осталось выполнить пункт {items[0]}."
        return "Осталось выполнить пункты:\n" + "\n".join(f"• {item}" for item in items)
    ids = ", ".join(s.id for s in owed)
    if len(owed) == 1:
        return f"Осталось выполнить пункт {ids}."
    return f"Осталось выполнить пункты: {ids}."


def announcement(campaign: Campaign) -> str:
    lines = [
        f"📋 Приказ № {campaign.number} от {campaign.date:%d.%m.%Y} {quoted(campaign.title)}",
    ]
    if campaign.issuer:
        lines.append(campaign.issuer)
    lines += ["", f"Руководителям школ в срок до {fmt_deadline(campaign)}:"]
    lines += [f"{step.id}. {step.title}" for step in campaign.steps]
    lines += [
        "",
        "Нажмите «Ознакомлен», чтобы отметить, что вы ознакомлены с приказом, и «Отчитаться», "
        "чтобы отметить выполнение пунктов. Можно и сообщением в этой беседе: "
        f"«/{_answer_example(campaign)}».",
    ]
    return "\n".join(lines)


def card(status: SchoolStatus, now: dt.datetime) -> str:
    campaign = status.campaign
    lines = [f"🏫 {status.school.name}", f"Приказ № {campaign.number}: {time_left(campaign, now)}"]
    lines += [_step_line(step, status.answers.get(step.id)) for step in campaign.steps]
    owed = status.owed()
    if owed:
        lines += ["", _left_to_do(owed, titles=False), "Выберите пункт кнопкой ниже."]
    else:
        lines += ["", "Все пункты выполнены. Спасибо!"]
    return "\n".join(lines)


def step_prompt(campaign: Campaign, school: School, step: Step) -> str:
    if step.kind is StepKind.COUNT:
        done, total = _EXAMPLE_COUNTS[0]
        return f"🏫 {school.name}\n" + ASK_COUNTS.format(
            step=step.id, title=step.title, example=count_example(step), done=done, total=total
        )
    return f"🏫 {school.name}\nПункт {step.id}: {step.title}\nВыберите ответ:"


def receipt(status: SchoolStatus, step: Step, answer: Answer, now: dt.datetime) -> str:
    return _receipt(status, [f"Принято: {_step_line(step, answer)}"], late=answer.late)


def _receipt(status: SchoolStatus, lines: list[str], *, late: bool) -> str:
    """What was taken, then whether it was late and what the school has left to do."""
    if late:
        lines.append(LATE_NOTE)
    owed = status.owed()
    if owed:
        lines.append(_left_to_do(owed, titles=True))
    else:
        lines.append(ALL_DONE.format(school=status.school.name, number=status.campaign.number))
    return "\n".join(lines)


def district_status(status: DistrictStatus) -> str:
    campaign = status.campaign
    lines = [
        f"📊 Приказ № {campaign.number} от {campaign.date:%d.%m.%Y}",
        f"Выполнили все пункты: {number(status.finished)} из {of_schools(status.schools)} "
        f"({percent_of(status.finished, status.schools)})",
        time_left(campaign, status.now),
        "",
        "По пунктам, число школ:",
    ]
    for summary in status.steps:
        lines.append(
            f"{summary.step.id} {summary.step.short_title}: "
            f"выполнено {number(summary.done)}, в работе {number(summary.in_progress)}, "
            f"проблема {number(summary.problem)}, нет ответа {number(summary.none)}"
            + (f", не требуется {number(summary.not_required)}" if summary.not_required else "")
        )
        for part in summary.parts:
            lines.append(f"   {part.title}: {COUNT_DONE} {out_of(part.done, part.total)}")
    lines.append(
        f"Ознакомлены с приказом: {number(status.acknowledged_people)} из "
        f"{of_people(status.people)}"
    )
    if status.trend:
        days = [f"{day:%d.%m} — {number(finished)}" for day, finished in status.trend]
        lines.append(f"Выполнили все пункты, по сводкам: {', '.join(days)}")
    if status.staff is not None:
        lines += ["", *staff_progress(status.staff)]
    return "\n".join(lines)


def staff_progress(progress: StaffProgress) -> list[str]:
    """The staff's own items, by person (issue 14)."""
    ids = ", ".join(s.id for s in progress.steps)
    lines = [
        f"Пункты сотрудникам ({ids}): выполнили все — "
        f"{number(progress.finished)} из {number(len(progress.members))}"
    ]
    for member in progress.members:
        states = ", ".join(
            f"{s.id} {STATE_NAME[member.states.get(s.id, S.NONE)]}" for s in progress.steps
        )
        lines.append(f"• {member.name}: {states}")
    return lines


def staff_card(campaign: Campaign, states: dict[str, S], now: dt.datetime) -> str:
    """A staff member's own items of an order, with where each stands."""
    lines = [f"👤 Ваши пункты приказа № {campaign.number}: {time_left(campaign, now)}"]
    for step in campaign.staff_steps:
        state = states.get(step.id, S.NONE)
        lines.append(f"{STATE_MARK[state]} {step.id} {step.short_title} — {STATE_NAME[state]}")
    owed = [s for s in campaign.staff_steps if states.get(s.id) is not S.DONE]
    if owed:
        lines += [
            "",
            f"Выберите пункт кнопкой ниже или напишите, например: «{owed[0].id} выполнено».",
        ]
    else:
        lines += ["", "Все ваши пункты выполнены. Спасибо!"]
    return "\n".join(lines)


def staff_step_prompt(campaign: Campaign, step: Step) -> str:
    return f"👤 Приказ № {campaign.number}, пункт {step.id}: {step.title}\nВыберите ответ:"


def staff_receipt(campaign: Campaign, answers: Sequence[tuple[Step, S]], late: bool) -> str:
    lines = [
        f"Принято (приказ № {campaign.number}): {step.id} {step.short_title} — {STATE_NAME[state]}"
        for step, state in answers
    ]
    if late:
        lines.append(LATE_NOTE)
    return "\n".join(lines)


def school_status(
    status: SchoolStatus,
    names: dict[int, str],
    timezone: str,
    verification: tuple[bool | None, list[str]] = (None, []),
    extended_until: dict[str, dt.datetime] | None = None,
) -> str:
    lines = [f"🏫 {status.school.name} (№ {status.school.id})"]
    lines += extension_lines(status.campaign, extended_until or {}, timezone)
    for step in status.campaign.steps:
        answer = status.answers.get(step.id)
        line = _step_line(step, answer)
        if answer is not None:
            who = names.get(answer.answered_by, f"id{answer.answered_by}")
            line += (
                f"\n   ответ: {who}, {fmt_moment(answer.answered_at, timezone)}, "
                f"{SOURCE_NAME[answer.source]}"
            )
            if step.verified_by:
                line += " (со слов руководителя)"
        if step.verified_by:
            line += "\n" + verification_line(step, *verification)
        lines.append(line)
    lines.append("Руководство школы:" if status.people else "Руководство школы: в списке никого")
    for person in status.people:
        ack = status.acknowledged.get(person.person_id)
        ack_text = (
            f"ознакомлен(а) с приказом {fmt_moment(ack, timezone)}"
            if ack
            else "с приказом не ознакомлен(а)"
        )
        lines.append(f"• {person.full_name}, {ROLE_NAME[person.role]} — {ack_text}")
    return "\n".join(lines)


def several_schools(schools: Iterable[School]) -> str:
    return SEVERAL_SCHOOLS.format(items="\n".join(f"• {s.id}: {s.name}" for s in schools))


# A chat message lists at most this many schools; the Excel report has them all.
PENDING_LIST_LIMIT = 300
NOBODY_LISTED = "в списке никого"


def _owed_ids(campaign: Campaign, item: PendingSchool) -> str:
    """«3.1 (нет ответа), 3.4 (в работе)»: what a school still owes and where it stands."""
    return ", ".join(
        f"{step.id} ({STATE_NAME[item.states.get(step.id, S.NONE)]})"
        for step in campaign.steps
        if item.states.get(step.id, S.NONE) is not S.DONE
    )


def pending(
    campaign: Campaign, schools: list[PendingSchool], total: int, owing: int | None = None
) -> str:
    owing = len(schools) if owing is None else owing
    if not owing:
        return (
            f"Все школы выполнили все пункты приказа № {campaign.number} "
            f"(школ: {number(total)}). 🎉"
        )
    lines = [f"Не выполнили все пункты: {number(owing)} из {of_schools(total)}"]
    for item in schools:
        people = ", ".join(mention(p.person_id, p.full_name) for p in item.people) or NOBODY_LISTED
        lines.append(f"• {item.school.name}: {_owed_ids(campaign, item)} — {people}")
        lines += [
            f"   {line}" for line in extension_lines(campaign, item.extended, campaign.timezone)
        ]
    if owing > len(schools):
        lines.append(more_schools(owing - len(schools)))
    return "\n".join(lines)


def head_help(school_names: list[str], campaign: Campaign) -> str:
    if len(school_names) == 1:
        schools = f"Ваша школа: {school_names[0]}."
    else:
        schools = "Ваши школы: " + "; ".join(school_names) + "."
    examples = []
    confirm = next((s for s in campaign.steps if s.kind is StepKind.CONFIRM), None)
    if confirm is not None:
        examples += [
            f"«{confirm.id} выполнено»",
            f"«{confirm.id} в работе»",
            f"«{confirm.id} проблема: нет интернета»",
        ]
    counting = next((s for s in campaign.steps if s.kind is StepKind.COUNT), None)
    if counting is not None:
        done, total = _EXAMPLE_COUNTS[0]
        examples.append(
            f"«{counting.id} {count_example(counting)}» ({done} — сколько подключено, "
            f"{total} — сколько всего)"
        )
    return HELP_HEAD.format(
        schools=schools, examples=", ".join(examples), deadline=fmt_deadline(campaign)
    )


def ask_to_write(name: str | None, person_id: int) -> str:
    return ASK_WRITE_TO_COMMUNITY.format(mention=mention(person_id, name or f"id{person_id}"))


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split on line breaks (or hard, for a monster line) so every part fits VK's limit."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts


def more_schools(more: int) -> str:
    return (
        f"…и ещё {counted(more, 'школа', 'школы', 'школ')}: полный список — в отчёте Excel "
        "(команда «отчёт»)."
    )


def announced(chats: int) -> str:
    if not chats:
        return (
            "Бесед руководителей пока нет, приказ некуда разослать. Добавьте сообщество в беседу "
            "руководителей и напишите там «/привязать руководители»."
        )
    return f"Приказ разослан в {counted(chats, 'беседу', 'беседы', 'бесед')} руководителей."


DAILY_SUMMARY_HEAD = "🗓 Ежедневная сводка"
FINAL_SUMMARY_HEAD = "🏁 Срок исполнения приказа наступил. Итоговая сводка"
REMINDED = (
    "Напоминания отправлены. Школ-должников: {schools}, личных сообщений: {private}, "
    "упомянуто в беседе руководителей: {mentioned}. Плановые напоминания остаются в силе."
)
PAUSED = (
    "Автоматические сообщения по приказу № {number} приостановлены. «продолжить» — возобновить."
)
RESUMED = "Автоматические сообщения по приказу № {number} возобновлены."
ALREADY_PAUSED = "Автоматические сообщения уже приостановлены."
NOT_PAUSED = "Автоматические сообщения и так идут по расписанию."
SLOT_NAMES = {
    "reminder": "напоминание должникам",
    "summary": "ежедневная сводка",
    "final": "итоговая сводка",
    "escalation": "список просроченных школ контролёру",
}


def _owed_titles(campaign: Campaign, owed: list[tuple[str, S]]) -> list[str]:
    """«3.4 Сферум и VK Мессенджер в школе — в работе», a line for each item not yet done."""
    titles = {step.id: step.short_title for step in campaign.steps}
    return [f"{sid} {titles.get(sid, '')} — {STATE_NAME[state]}".strip() for sid, state in owed]


def _owed_of(campaign: Campaign, item: PendingSchool) -> list[tuple[str, S]]:
    return [
        (step.id, item.states.get(step.id, S.NONE))
        for step in campaign.steps
        if item.states.get(step.id, S.NONE) is not S.DONE
    ]


def _owed_list(campaign: Campaign, item: PendingSchool) -> str:
    """«3.1 Структура классов и бесед (нет ответа), 3.4 … (в работе)» on one line."""
    titles = {step.id: step.short_title for step in campaign.steps}
    return ", ".join(
        f"{sid} {titles.get(sid, '')} ({STATE_NAME[state]})"
        for sid, state in _owed_of(campaign, item)
    )


def reminder(campaign: Campaign, owed: list[tuple[str, S]], now: dt.datetime) -> str:
    """The same text for every school that owes the same items, so it can go in one batch.

    It names what is not yet done and where each item stands: a school that answered «в
    работе» is not told that it has not answered.
    """
    lines = [f"⏰ Напоминание о приказе № {campaign.number}: {time_left(campaign, now)}."]
    items = _owed_titles(campaign, owed)
    if len(items) == 1:
        lines.append(f"Ещё не выполнен пункт {items[0]}.")
    else:
        lines.append("Ещё не выполнены пункты:")
        lines += [f"• {item}" for item in items]
    owed_steps = [s for sid, _ in owed if (s := campaign.step(sid)) is not None]
    lines.append(
        "Когда выполните, нажмите «Отчитаться» или напишите, например: "
        f"«{_answer_example(campaign, owed_steps)}»."
    )
    return "\n".join(lines)


def reminder_of_orders(
    orders: Sequence[tuple[Campaign, list[tuple[str, S]]]], now: dt.datetime
) -> str:
    """One reminder for a person who owes in several open orders: each order in a few lines."""
    lines = ["⏰ Напоминание: ещё не выполнено по приказам."]
    for campaign, owed in orders:
        items = _owed_titles(campaign, owed)
        lines += ["", f"Приказ № {campaign.number}: {time_left(campaign, now)}."]
        lines += [f"• {item}" for item in items]
    campaign, owed = orders[0]
    owed_steps = [s for sid, _ in owed if (s := campaign.step(sid)) is not None]
    lines += [
        "",
        "Когда выполните, нажмите «Отчитаться» по нужному приказу или напишите, например: "
        f"«{campaign.number}: {_answer_example(campaign, owed_steps)}».",
    ]
    return "\n".join(lines)


def summaries_of_orders(parts: Sequence[str]) -> str:
    """Several open orders' summaries due at the same time, in one message."""
    return f"Открытых приказов: {number(len(parts))}\n\n" + "\n\n— — —\n\n".join(parts)


def reminder_in_chat(
    campaign: Campaign, items: list[tuple[PendingSchool, list[int]]], now: dt.datetime
) -> str:
    lines = [
        f"⏰ Напоминание о приказе № {campaign.number}: {time_left(campaign, now)}.",
        "Этим руководителям не удалось написать в личные сообщения. Ещё не выполнены пункты:",
    ]
    for item, people in items:
        names = {p.person_id: p.full_name for p in item.people}
        who = ", ".join(
            mention(person_id, names.get(person_id, f"id{person_id}")) for person_id in people
        )
        lines.append(f"• {item.school.name}: {_owed_list(campaign, item)} — {who}")
    lines.append(
        "Напишите сообществу любое сообщение, чтобы получать карточку школы лично, "
        f"или ответьте здесь: «/{_answer_example(campaign)}»."
    )
    return "\n".join(lines)


def escalation(
    campaign: Campaign,
    items: list[PendingSchool],
    total: int,
    now: dt.datetime,
    owing: int | None = None,
) -> str:
    owing = len(items) if owing is None else owing
    lines = [
        f"🚨 Приказ № {campaign.number}: {time_left(campaign, now)}.",
        f"Не выполнили все пункты в срок: {number(owing)} из {of_schools(total)}.",
    ]
    for item in items:
        people = ", ".join(
            f"{mention(p.person_id, p.full_name)} ({ROLE_NAME[p.role]})" for p in item.people
        )
        lines.append(
            f"• {item.school.name}: {_owed_list(campaign, item)} — {people or NOBODY_LISTED}"
        )
    if owing > len(items):
        lines.append(more_schools(owing - len(items)))
    return "\n".join(lines)


def problem_notice(school: School, step: Step, reason: str, who: str) -> str:
    """Who reported it comes before the head's own words, which stay on one quoted line: a
    reason cannot write a «Кто сообщил» of its own."""
    reason = reason_text(" ".join(reason.split()))
    because = quoted(reason) if reason else "не указана (бот спросил у руководителя)"
    return (
        f"⚠️ Проблема: {school.name}, пункт {step.id} {step.short_title}\n"
        f"Кто сообщил: {who}\n"
        f"Причина: {because}"
    )


def schedule(lines: list[tuple[str, dt.datetime]], paused: bool, timezone: str) -> str:
    head = "Расписание автоматических сообщений:"
    if paused:
        head = "Расписание автоматических сообщений (приостановлены, «продолжить» — возобновить):"
    out = [head]
    if not lines:
        out.append("ничего не запланировано")
    out += [f"• {fmt_moment(moment, timezone)} — {name}" for name, moment in lines]
    return "\n".join(out)


BUTTON_ROLE = {Role.HEAD: "Я руководитель", Role.DEPUTY: "Я заместитель"}
REG_IN_PRIVATE = "Регистрация — в личных сообщениях сообществу: напишите «регистрация КОД»."
REG_CHOOSE_ROLE = "Код подошёл: {school}. Кто вы в школе? Нажмите кнопку."


def reg_unknown(department: DepartmentConfig) -> str:
    return (
        f"Такого кода нет. Проверьте код из письма {department.name} (6 знаков, например "
        "K7M4PQ) и напишите: «регистрация K7M4PQ»."
    )


def reg_expired(department: DepartmentConfig) -> str:
    return f"Срок действия этого кода истёк вместе с приказом. Обратитесь {_contact(department)}."


def reg_revoked(department: DepartmentConfig) -> str:
    return f"Этот код отозван. Новый код можно получить {_contact(department, at=True)}."


def reg_too_many(department: DepartmentConfig) -> str:
    return (
        "Слишком много неверных кодов. Попробуйте через час или обратитесь "
        f"{_contact(department)}."
    )


def max_link(link: str) -> str:
    """A registered person's own link to the bot on MAX (issue 16, migration 0021)."""
    return (
        "Чтобы отвечать за школу из MAX, в течение часа откройте эту ссылку на телефоне, где "
        f"установлен MAX, и нажмите «Начать»:\n{link}\nСсылка только для вас: школа и история "
        "ответов останутся прежними."
    )


MAX_LINK_UNREGISTERED = (
    "Ссылку для MAX получают те, кто уже записан за школу. Сначала напишите «регистрация КОД» "
    "с кодом вашей школы."
)


def max_link_refused(department: DepartmentConfig) -> str:
    """A person's link code that came from an account already recorded for a school of its own:
    the two are not merged by the bot."""
    return (
        "Ссылка не сработала: этот аккаунт MAX уже записан за школу отдельно. Чтобы объединить "
        f"записи, обратитесь {_contact(department)}."
    )


MAX_LINKED = (
    "Готово: теперь бот знает вас и в MAX. Школа и история ответов прежние; бот будет писать "
    "вам сюда."
)
REG_NO_PENDING = "Сначала напишите «регистрация КОД» с кодом вашей школы."
REG_DONE = "Готово! {school}: вы записаны как {role}. Теперь вы можете отчитываться за эту школу."
BIND_USAGE = "Напишите в нужной беседе: «/привязать админ» или «/привязать руководители»."
BIND_ONLY_IN_CHAT = "Команду «привязать» пишут в самой беседе, которую нужно привязать."


def bound(kind: str, department: DepartmentConfig) -> str:
    """`kind`: "admin" or "heads"."""
    if kind == "admin":
        return (
            f"Беседа привязана: теперь это беседа {department.short_name}. Сюда приходят "
            "сводки и сообщения о проблемах школ."
        )
    return (
        "Беседа привязана: теперь это беседа руководителей школ. Сюда приходят приказ и "
        "напоминания."
    )


NO_MEMBER_ACCESS = (
    "Чтобы бот сам проверял пункт {step} (все ли руководители в беседе), назначьте сообщество "
    "администратором беседы."
)
UNBIND_USAGE = "Укажите, кого отвязать: «отвязать 123456» или «отвязать https://vk.com/id123456»."
UNBOUND = "Отвязано записей: {count}. Ответы этого человека остаются в истории."
NO_REGISTRATIONS = "Самостоятельно зарегистрированных пока нет."
# Why a roster's screen name (vk.com/ivanov) did not become an id.
SCREEN_NAME_UNKNOWN = "нет такого пользователя"
SCREEN_NAME_UNCHECKED = "ещё не проверен"


def registrations(
    items: list[tuple[str, str, Role, str, dt.datetime]],
    unresolved: list[tuple[str, str, str]],
    timezone: str,
) -> str:
    lines = ["Зарегистрировались по коду:" if items else NO_REGISTRATIONS]
    for vk_id_text, name, role, school, at in items:
        lines.append(
            f"• {name} ({vk_id_text}), {ROLE_NAME[role]}, {school} — {fmt_moment(at, timezone)}"
        )
    if unresolved:
        lines.append("Не найдены во ВКонтакте (из списка школ):")
        lines += [f"• {school}: {name} — {why}" for school, name, why in unresolved]
    return "\n".join(lines)


def verification_line(step: Step, verified: bool | None, missing: list[str]) -> str:
    """Item 3.3 as the bot sees it, beside what the head said."""
    if verified is None:
        return f"   {step.id}: бот не видит участников бесед — только со слов руководителя"
    if verified:
        return f"   {step.id}: подтверждено ботом — все в беседе руководителей"
    return f"   {step.id}: бот не видит в беседе руководителей: {', '.join(missing)}"


# -- the Excel report (bot/report.py): sheets, headers and cells --------------------------------

REPORT_SHEET_SUMMARY = "Сводка"
REPORT_SHEET_PENDING = "Должники"
REPORT_SHEET_HISTORY = "История"
REPORT_TITLE = (
    "Приказ № {number} от {date:%d.%m.%Y} {title}, срок — {deadline}. Отчёт на {now} ({tz})"
)
REPORT_SUMMARY_HEADER = ("№ школы", "Школа")
REPORT_ACKNOWLEDGED = "Ознакомлены"
REPORT_ALL_DONE = "Все пункты выполнены"
REPORT_YES, REPORT_NO = "да", "нет"
REPORT_LATE = " (с опозданием)"
REPORT_VERIFIED_BY_BOT = " · подтверждено ботом"
REPORT_NOT_VERIFIED_BY_BOT = " · бот не видит всех в беседе"
REPORT_TOTAL = "Итого школ: {schools}"
REPORT_PENDING_HEADER = ("№ школы", "Школа", "Не выполнено", "Кому звонить")
REPORT_NOBODY = "в списке никого"
REPORT_HISTORY_HEADER = (
    "Дата и время",
    "№ школы",
    "Школа",
    "Пункт",
    "Состояние",
    "Значение",
    "Причина",
    "Кто",
    "Как",
    "С опозданием",
)
REPORT_WHO = "{name} (id{person_id})"
REPORT_WHO_UNKNOWN = "id{person_id}"
REPORT_VK_PROFILE = "https://vk.com/id{person_id}"
CODES_SHEET = "Коды"


def report_title(campaign: Campaign, deadline: str, now: str, timezone: str) -> str:
    return REPORT_TITLE.format(
        number=campaign.number,
        date=campaign.date,
        title=quoted(campaign.title),
        deadline=deadline,
        now=now,
        tz=timezone,
    )


def report_out_of(done: int, total: int) -> str:
    """«2 из 2», a count of people or schools in a cell whose header says what is counted."""
    return f"{number(done)} из {number(total)}"


def report_step_total(done: int, schools: int) -> str:
    """«выполнили 1 из 4 школ» under an item's column."""
    return f"выполнили {number(done)} из {of_schools(schools)}"


def report_counts(step: Step, answer: Answer) -> str:
    """«педагоги: подключено 45 из 50 (90 %); ученики: подключено 380 из 412 (92,2 %)»; only
    «подключено 45 из 50 (90 %)» when the item has one part."""
    titles = {part.key: part.title for part in step.parts}
    keys = [p.key for p in step.parts if p.key in answer.counts]
    keys += [key for key in answer.counts if key not in titles]  # parts dropped from the file
    texts = [f"{COUNT_DONE} {out_of(answer.counts[k].done, answer.counts[k].total)}" for k in keys]
    if len(keys) == 1:
        return texts[0]
    return "; ".join(f"{titles.get(k, k)}: {text}" for k, text in zip(keys, texts, strict=True))


def report_part_total(title: str, done: int, total: int) -> str:
    return f"{title}: {COUNT_DONE} {out_of(done, total)}"


# -- files in the chat: the Excel report and the progress picture -------------------------------

# No spaces and nothing a file system refuses: the name survives download on any phone.
REPORT_FILENAME = "Отчет_приказ_{number}_{moment:%Y-%m-%d_%H%M}.xlsx"
REPORT_CAPTION = (
    "📎 Отчёт по приказу № {number} на {moment}: выполнили все пункты {finished} из {schools} "
    "({percent}). Листы: «Сводка», «Должники», «История»."
)
REPORT_FAILED = (
    "Не удалось подготовить отчёт Excel. Попробуйте ещё раз через несколько минут; если не "
    "получится — сообщите тому, кто обслуживает бота."
)
REPORT_UPLOAD_FAILED = (
    "Не удалось отправить отчёт Excel сюда: ВКонтакте не принял файл. Попробуйте ещё раз "
    "через несколько минут; на сервере отчёт можно выгрузить командой «confirmbot report»."
)
CHART_FILENAME = "Ход_исполнения_приказ_{number}_{moment:%Y-%m-%d_%H%M}.png"
CHART_CAPTION = "📈 Ход исполнения приказа № {number} на {moment}"
CHART_FAILED = (
    "Не удалось отправить картинку с ходом исполнения; сводка — в сообщении выше. Попробуйте "
    "«статус картинка» ещё раз через несколько минут."
)
# Words after «статус» that ask for the picture rather than name a school.
CHART_WORDS = frozenset({"картинка", "картинкой", "график", "chart", "picture"})

# The picture: Russian labels, readable on a phone; its percents are whole, rounded down.
CHART_TITLE = "Приказ № {number}: ход исполнения"
CHART_MOMENT = "на {moment}, срок — {deadline}"
CHART_PEOPLE = "подключено людей (по ответам школ)"
CHART_TREND = "Выполнили все пункты, школ по сводкам"


def chart_finished(finished: int, schools: int) -> str:
    return (
        f"Выполнили все пункты: {number(finished)} из {of_schools(schools)} "
        f"({percent_of(finished, schools, digits=0)})"
    )


def chart_step_counts(done: int, schools: int, in_progress: int, problem: int) -> str:
    return (
        f"выполнили {number(done)} из {of_schools(schools)}; в работе {number(in_progress)}, "
        f"проблема {number(problem)}"
    )


def chart_part(title: str, done: int, total: int) -> str:
    return f"{title}: {COUNT_DONE} {number(done)} из {number(total)}"


def chart_value(done: int, total: int) -> str:
    """The whole percent right of a bar: «58 %»."""
    return percent_of(done, total, digits=0)


def _file_number(campaign: Campaign) -> str:
    """The order's number as part of a file name: `47/1` -> `47-1`."""
    return "".join(c if c.isalnum() or c in "-." else "-" for c in campaign.number)


def report_filename(campaign: Campaign, now: dt.datetime) -> str:
    """`Отчет_приказ_47_2023-10-17_1030.xlsx`, at the campaign's local time."""
    return REPORT_FILENAME.format(
        number=_file_number(campaign), moment=local(now, campaign.timezone)
    )


def chart_filename(campaign: Campaign, now: dt.datetime) -> str:
    return CHART_FILENAME.format(
        number=_file_number(campaign), moment=local(now, campaign.timezone)
    )


def report_caption(campaign: Campaign, now: dt.datetime, schools: int, finished: int) -> str:
    return REPORT_CAPTION.format(
        number=campaign.number,
        moment=fmt_moment(now, campaign.timezone),
        finished=number(finished),
        schools=of_schools(schools),
        percent=percent_of(finished, schools),
    )


def chart_caption(campaign: Campaign, now: dt.datetime) -> str:
    return CHART_CAPTION.format(number=campaign.number, moment=fmt_moment(now, campaign.timezone))


# --- command line (issue 13) ---
# What `confirmbot` prints for the district's IT person, who reads Russian first. Keys of the
# config, column names, commands and `OK` stay as they are written in the files and the README.

CLI_DESCRIPTION = (
    "confirmbot — бот сообщества ВКонтакте: собирает со всех школ района подтверждения "
    "исполнения пунктов приказа к сроку."
)
CLI_HELP = {
    "verbose": "подробный журнал (отладка)",
    "run": "запустить бота (Long Poll ВКонтакте и автоматические сообщения)",
    "demo": "вся история на встроенном эмуляторе API ВКонтакте, без ключа и без сети",
    "demo.schools": "сколько школ в районе (от 3 до 5000)",
    "demo.messenger": "мессенджер: vk (по умолчанию) или max — тот же бот на эмуляторе MAX",
    "roster": "список школ и людей",
    "roster.import": "загрузить школы и людей из .xlsx или .csv",
    "roster.import.file": "файл списка: книга Excel (.xlsx) или CSV UTF-8",
    "roster.codes": "коды регистрации для школ (CSV или XLSX — по имени файла)",
    "roster.codes.regenerate": "новые коды всем школам (старые перестают действовать)",
    "roster.codes.revoke": "отозвать код школы",
    "roster.import.mode": (
        "replace (по умолчанию): люди каждой школы из файла становятся ровно людьми файла; "
        "merge: люди из файла добавляются и обновляются, никто не удаляется"
    ),
    "roster.import.dry-run": "только показать, что изменится, ничего не записывая",
    "roster.import.close-missing": (
        "только с --mode replace: закрыть школы, которых нет в файле (люди, ответы и история "
        "остаются; открыть снова: roster reopen-school)"
    ),
    "roster.add-school": "добавить школу",
    "roster.rename-school": "переименовать школу (ответы и история остаются)",
    "roster.add-person": "добавить человека в школу или изменить его ФИО и роль",
    "roster.remove-person": "убрать человека из списка (его ответы остаются в истории)",
    "roster.close-school": (
        "закрыть школу: она уходит из итогов, должников, напоминаний и отчётов; её люди, "
        "ответы и история остаются"
    ),
    "roster.reopen-school": "снова открыть закрытую школу: она в итогах со своими ответами",
    "roster.reason": "почему школа закрыта (сотрудники увидят это в «школа ID»)",
    "roster.school_id": "id школы, как в списке, например 009",
    "roster.school_name": "название школы",
    "roster.vk_id": "id ВКонтакте: 123, id123 или https://vk.com/id123",
    "roster.full_name": "ФИО",
    "roster.role": "head или deputy (руководитель, заместитель)",
    "roster.school": "только из этой школы (по умолчанию — из всех)",
    "check-config": "проверить конфигурацию и объяснить её",
    "announce": "опубликовать приказ в беседах руководителей",
    "report": "выгрузить ответы всех школ (CSV или Excel)",
    "report.format": "csv или xlsx (по умолчанию — по расширению файла)",
    "report.bom": "только CSV: начать файл с BOM UTF-8, для Excel",
    "config": "файл конфигурации (config.toml)",
    "output": "куда записать файл",
    "report.campaign": "id или номер приказа (можно не указывать, если приказ один)",
    "campaign": "приказы: черновик из текста приказа, добавить, список, закрыть, объявить",
    "campaign.add": "добавить приказ из файла кампании (.toml); работающий бот подхватит его сам",
    "campaign.add.file": "файл кампании, как bot/campaigns/order_47.toml",
    "campaign.add.update": "обновить приказ с тем же id (тексты, срок, новые пункты)",
    "campaign.list": "все приказы: открытые и закрытые, с ходом исполнения",
    "campaign.close": "закрыть приказ: напоминания по нему прекращаются, ответы и отчёты остаются",
    "campaign.announce": "опубликовать приказ в беседах руководителей",
    "campaign.id": "id или номер приказа",
}
# argparse's own complaints, in the same words (see bot/__main__.py `_Parser`).
CLI_ARGPARSE = (
    (r"the following arguments are required: (.*)", "не хватает аргументов: {0}"),
    (r"unrecognized arguments: (.*)", "лишние аргументы: {0}"),
    (
        r"argument (.*?): invalid choice: (.*?) \(choose from (.*)\)",
        "{0}: нет такого: {1} (есть: {2})",
    ),
    (r"argument (.*?): invalid (\w+) value: (.*)", "{0}: {2} — не число"),
    (r"argument (.*?): expected one argument", "{0}: нужно значение"),
    (r"argument (.*?): (.*)", "{0}: {1}"),
)

CLI_ERROR = "ошибка: {message}"
CLI_DEMO_SCHOOLS = "--schools: число школ должно быть от 3 до 5000"
CLI_REPORT_FORMAT = (
    "не понятно, в каком формате писать отчёт: укажите --format csv или --format xlsx "
    "(или имя файла с .csv или .xlsx)"
)
CLI_CONFIG_PROBLEMS = "{source}: ошибок: {count}"
CLI_NOTHING_CHANGED = "ничего не изменено"
CLI_CANNOT_WRITE = "не удаётся записать {path}: {reason}"
CLI_IS_A_DIRECTORY = "это папка"
CLI_NO_DIRECTORY = "нет папки {path}"

CLI_DATABASE = {
    "directory": (
        "{path} — это папка, а не файл базы данных. Укажите в [storage] path файл, например "
        '"/var/lib/confirmbot/confirmbot.db"'
    ),
    "cannot_open": (
        "не удаётся открыть или создать базу данных {path}: {detail}. Проверьте [storage] path "
        "и права: файл и его папка должны быть доступны пользователю, от имени которого "
        "запущен confirmbot (на сервере — запускайте через confirmbot-admin)"
    ),
    "corrupt": (
        "{path} — не база данных confirmbot или файл повреждён ({detail}). Проверьте "
        "[storage] path; повреждённую базу восстановите из резервной копии. Сам файл не "
        "изменён и не удалён"
    ),
    "newer": (
        "база данных {path} записана более новой версией confirmbot (версия схемы {version}, "
        "эта версия знает до {known}). Обновите confirmbot до той версии, что её записала, "
        "и запустите снова; перезапуск без обновления не поможет. База не изменена"
    ),
    "broken": "база данных {path}: {detail}",
}
# The same in one line for the journal, where `run` stops: Russian, then English.
CLI_DATABASE_STOP = "confirmbot остановлен: {message} / confirmbot stopped: {english}"

CLI_ROSTER_REJECTED = "{file}: список не загружен, ошибок: {count}"
CLI_ROSTER_IGNORED = (
    "предупреждение: столбцы не загружены, бот их не знает: {columns} "
    "(загружаются school_id, school_name, vk_id, full_name, role)"
)
CLI_ROSTER_IMPORTED = (
    "список загружен из {file}: школы — добавлено {schools_added}, изменено "
    "{schools_updated}, без изменений {schools_unchanged}; люди — добавлено {people_added}, "
    "изменено {people_updated}, удалено {people_removed}"
)
CLI_ROSTER_UNRESOLVED = (
    "указаны коротким адресом (vk.com/имя): {count} чел.; бот узнает их числовые id при "
    "запуске службы (если она уже работает: sudo systemctl restart confirmbot); кого "
    "ВКонтакте не найдёт, покажет команда «регистрации» в беседе сотрудников"
)
CLI_ROSTER_KEPT = (
    "школ в базе, которых нет в файле: {count}; они оставлены вместе с людьми и ответами "
    "(если школы больше нет: confirmbot roster close-school ID)"
)
CLI_ROSTER_CLOSED_MISSING = (
    "закрыты школы, которых нет в файле: {count} ({ids}); их люди, ответы и история "
    "сохранены (открыть снова: confirmbot roster reopen-school ID)"
)
CLI_CLOSE_MISSING_MERGE = (
    "--close-missing закрывает школы, которых нет в полном списке, и работает только с "
    "--mode replace: файл для --mode merge — лишь изменения недели"
)


def close_missing_reason(file_name: str, moment: dt.datetime, timezone: str) -> str:
    """Why an import closed a school: the reason `школа ID` shows."""
    return f"нет в списке {file_name}, загруженном {fmt_moment(moment, timezone)}"


CLI_ROSTER_CLOSED_IN_FILE = (
    "закрытые школы в файле: {count} ({ids}); они остаются закрытыми и не входят в итоги "
    "(открыть снова: confirmbot roster reopen-school ID)"
)

CLI_CODES_SUFFIX = "{path}: имя файла должно оканчиваться на .csv или .xlsx"
CLI_CODES_NO_SCHOOL = "таких школ нет в списке: {ids}"
CLI_CODES_WRITTEN = "коды регистрации записаны в {path}: школ {count}"
CLI_CODES_REVOKED = ", отозвано кодов: {count}"

CLI_ANNOUNCE_NOWHERE = (
    "беседы руководителей не заданы: объявлять некуда. Впишите их peer id в [bot] "
    "heads_chats или напишите в беседе руководителей «/привязать руководители»"
)
CLI_ANNOUNCED = "приказ опубликован в беседах руководителей: {count}"
CLI_CAMPAIGN_ADDED = (
    "приказ № {number} ({id}) добавлен: пунктов {steps}, срок {deadline}. Работающий бот "
    "начнёт по нему работу в течение минуты; объявить: confirmbot campaign announce {id} "
    "--config …"
)
CLI_CAMPAIGN_PAST_DEADLINE = (
    "предупреждение: срок приказа {deadline} уже прошёл — бот не пошлёт по нему ни напоминаний, "
    "ни итоговой сводки, ни эскалаций; проверьте deadline в файле"
)
CLI_CAMPAIGN_UPDATED = "приказ № {number} ({id}) обновлён: пунктов {steps}, срок {deadline}"
CLI_CAMPAIGN_EXISTS = (
    "приказ с id {id} уже есть; чтобы заменить его тексты и срок, добавьте --update"
)
CLI_CAMPAIGN_CLOSED_ALREADY = "приказ {id} закрыт {when}; закрытый приказ не меняется"
CLI_CAMPAIGN_UNKNOWN = "приказа {ref} нет; есть: {known}"
CLI_CAMPAIGN_WHICH = "в базе несколько приказов — укажите --campaign (есть: {known})"
CLI_CAMPAIGN_CLOSED = "приказ № {number} ({id}) закрыт; его ответы и отчёты остаются"
CLI_CAMPAIGN_NOT_OPEN = "приказ {id} уже закрыт {when}"
CLI_CAMPAIGN_NONE = "в базе нет ни одного приказа"
CLI_CAMPAIGN_ROW = (
    "{id}  № {number} от {date}  срок {deadline}  {state}  "
    "выполнили все пункты: {finished} из {schools}  {title}"
)
CLI_CAMPAIGN_OPEN = "открыт"
CLI_CAMPAIGN_CLOSED_AT = "закрыт {when}"

CLI_REPORT_NO_DATABASE = (
    "базы данных {path} ещё нет: сначала загрузите список школ (roster import) или запустите бота"
)
CLI_REPORT_WRITTEN = (
    "отчёт записан в {path}: школ {schools}, пунктов {steps}, выполнили все пункты: {finished}"
)
CLI_REPORT_HISTORY = "; ответов в истории: {answers}"
CLI_REPORT_CLOSED = "; закрытые школы в отчёт не вошли: {ids}"

CLI_CHECK_NOT_OK = "{path}: НЕ OK — исправьте и проверьте снова:"
CLI_CHECK_OK = "OK — конфигурация {path} в порядке"
CLI_CHECK_NO_ADMINS = (
    "bot.admins: не указан ни один сотрудник; ожидается список числовых id ВКонтакте, "
    "например [12345]"
)
CLI_CHECK_SCHOOLS = "школ в списке: {count}"
CLI_CHECK_NO_DATABASE = "базы данных ещё нет: сначала загрузите список школ (roster import)"
CLI_CHECK_WARNING = "предупреждение: {warning}"
CLI_CHECK_DEADLINE_PASSED = (
    "срок приказа {deadline} уже прошёл. Если бот не работал с этой кампанией до срока, он "
    "не пошлёт по ней ни напоминаний, ни итоговой сводки, ни эскалаций. Для нового приказа "
    "укажите в [campaign] file новый файл кампании"
)
CLI_CHECK_TIMEZONES = (
    "bot.timezone — {bot}, а срок приказа указан в поясе {campaign}; напоминания и сводки "
    "идут по поясу приказа"
)
CLI_CHECK_NO_CHATS = (
    "беседы {kind} в конфигурации не заданы: после запуска службы добавьте сообщество в "
    "беседу и напишите в ней «/привязать {word}»"
)
CLI_CHECK_CHAT_KIND = {
    "admin": ("сотрудников", "админ"),
    "heads": ("руководителей", "руководители"),
}

CLI_DESCRIBE_VK = "сообщество ВКонтакте: {group_id}; API: {api_url}"
CLI_DESCRIBE_TIMEOUT = "; ждать ответа API до {seconds:g} с"
CLI_DESCRIBE_KEY_SET = "ключ доступа: задан (не показывается)"
CLI_DESCRIBE_KEY_PLACEHOLDER = (
    "ключ доступа: ещё не задан (заглушка из примера); впишите его в переменную {env}"
)
CLI_DESCRIBE_KEY_NONE = "ключ доступа: не задан (этой команде он не нужен)"
CLI_DESCRIBE_STORAGE = "база данных: {path}"
CLI_DESCRIBE_MAX_NONE = "MAX: не подключён (нет раздела [max])"
CLI_DESCRIBE_WEB_NONE = "веб-страница: не включена (нет раздела [web])"
CLI_DESCRIBE_WEB = (
    "веб-страница: {url}, бот слушает {listen}; вход по ссылке от бота («войти»), "
    "сеанс {session}{https}"
)
CLI_DESCRIBE_WEB_PLAIN = "; адрес не https: cookie сеанса пойдёт без шифрования, поставьте nginx"
CLI_DESCRIBE_MAX = (
    "MAX: API {api_url}, ключ из CONFIRMBOT_MAX_TOKEN; сотрудники в MAX: {admins}; беседы: {chats}"
)
CLI_DESCRIBE_MAX_CONTROLLER = "MAX: контролёр {controller} (вместо [bot] controller)"
CLI_DESCRIBE_MAX_POLLING = "MAX: обновления длинным опросом (для проверки и демонстрации)"
CLI_DESCRIBE_MAX_WEBHOOK = "MAX: обновления на {url}, бот слушает {listen}{path}"
CLI_DESCRIBE_TIMEZONE = "часовой пояс: {timezone}"
CLI_DESCRIBE_ADMINS = "сотрудники (admins): {admins}"
CLI_DESCRIBE_CONTROLLER = "контролёр (controller): {controller}"
CLI_DESCRIBE_ADMIN_CHATS = "беседы сотрудников (admin_chats): {chats}"
CLI_DESCRIBE_HEADS_CHATS = "беседы руководителей (heads_chats): {chats}"
CLI_DESCRIBE_CHAT = "{peer} (беседа {number})"
CLI_DESCRIBE_NONE = "нет"
CLI_DESCRIBE_NOT_SET = "не задан"
CLI_DESCRIBE_CAMPAIGN_FILE = "файл кампании: {path}"
CLI_DESCRIBE_REMINDERS = (
    "напоминания: за {before} до срока; тихие часы: {quiet}; ежедневная сводка в {summary}; "
    "эскалация контролёру каждые {escalate}"
)
CLI_DESCRIBE_QUIET_OFF = "нет"
CLI_DESCRIBE_CALENDAR = (
    "рабочие дни: выходные — {weekends}; праздники России: {federal}; файл календаря: {file}; "
    "в конфигурации выходных дат: {days_off}, рабочих: {working_days}"
)
CLI_DESCRIBE_YES = "да"
CLI_DESCRIBE_NO = "нет"
CLI_DESCRIBE_DEPARTMENT = (
    "название в сообщениях: «бот {name}», «беседа {short_name}»; телефон: {phone}"
)
CLI_DESCRIBE_CAMPAIGN = "кампания {id}: приказ № {number} от {date:%d.%m.%Y} {title}"
CLI_DESCRIBE_ISSUER = "издал: {issuer}"
CLI_DESCRIBE_DEADLINE = "срок: {deadline:%d.%m.%Y %H:%M} {timezone} (UTC{deadline:%z})"
CLI_DESCRIBE_STAFF_STEP = ", staff: сотрудники отмечают каждый за себя"
CLI_DESCRIBE_STEP = "пункт {id} [{kind}]: {title}"


# --- understanding (issue 12) ------------------------------------------------------------------

CHOOSE_SCHOOL_FOR_ANSWER = (
    "Вы отвечаете за несколько школ. Для какой школы этот ответ: {answer}? Нажмите кнопку — "
    "ответ сохранится для неё."
)
# The reason of a «Проблема» the bot asked for and did not get (the question expired, or another
# button or answer came first), and of a second problem in one message, which it did not ask
# about: staff are told the bot asked only when it did.
NO_REASON_AFTER_ASKING = "причина не указана — на вопрос бота ответа не было"
NO_REASON = "причина не указана"
NO_STATE_FOR_STEP = (
    "Не понял, что с пунктом {step}{said}. Напишите, например: «{step} выполнено», "
    "«{step} в работе» или «{step} проблема: нет интернета» — или нажмите кнопку ниже."
)
STATE_WITHOUT_STEP = (
    "Не понял, к какому пункту относится {said}. Напишите с номером пункта, например: "
    "«{step} {word}» — или выберите пункт кнопкой в карточке."
)
QUESTION_ABOUT_STEP = "Пункт {step} приказа № {number}: {title}."
HOW_TO_ANSWER_CONFIRM = "Когда выполните, нажмите кнопку или напишите: «{step} выполнено»."
HOW_TO_ANSWER_COUNT = (
    "Ответ — числами, например: «{step} {example}» ({done} — сколько подключено, {total} — "
    "сколько всего)."
)
QUESTION_WITHOUT_STEP = (
    "Спросите о пункте с его номером, например: «что нужно сделать по {step}?». "
    "Пункты приказа — в карточке школы."
)


def attachments_only(campaign: Campaign) -> str:
    """A sticker, a voice message, a photo: what the bot reads instead."""
    return (
        "Я понимаю текст и кнопки, а стикеры, голосовые сообщения и фото не читаю. Ответьте "
        f"кнопкой в карточке ниже или напишите, например: «{_answer_example(campaign)}»."
    )


def choose_school_for_answer(text: str) -> str:
    return CHOOSE_SCHOOL_FOR_ANSWER.format(answer=quoted(_shortened(text)))


def answer_for_school(text: str, school: School) -> str:
    """The question «which school?» once answered: it stays in the conversation as a record."""
    return f"🏫 {school.name}\nОтвет для этой школы: {quoted(_shortened(text))}"


def received_many(status: SchoolStatus, items: list[tuple[Step, Answer]], now: dt.datetime) -> str:
    """The receipt of several items answered in one message."""
    lines = ["Принято:"] + [_step_line(step, answer) for step, answer in items]
    return _receipt(status, lines, late=any(answer.late for _, answer in items))


def not_done(step: Step) -> str:
    """«3.1 не выполнено»: nothing stored; the item's buttons say what instead."""
    return ANSWER_ERRORS[AnswerError.NOT_DONE].format(step=step.id)


def no_state_for_step(step_id: str, said: str) -> str:
    return NO_STATE_FOR_STEP.format(step=step_id, said=f" ({quoted(said)})" if said else "")


def state_without_step(said: str, step: Step) -> str:
    """«Готово» with no item: an example made of the person's own word."""
    return STATE_WITHOUT_STEP.format(said=quoted(said), step=step.id, word=said)


def about_step(campaign: Campaign, step: Step) -> str:
    """A question about an item: the order's own words and how to answer."""
    text = QUESTION_ABOUT_STEP.format(
        step=step.id, number=campaign.number, title=step.title.rstrip(".")
    )
    if step.kind is StepKind.COUNT:
        done, total = _EXAMPLE_COUNTS[0]
        how = HOW_TO_ANSWER_COUNT.format(
            step=step.id, example=count_example(step), done=done, total=total
        )
    else:
        how = HOW_TO_ANSWER_CONFIRM.format(step=step.id)
    return f"{text}\n{how}"


def question_without_step(campaign: Campaign) -> str:
    return QUESTION_WITHOUT_STEP.format(step=campaign.steps[0].id)


def _shortened(text: str, limit: int = 80) -> str:
    """What a person typed, on one line and short enough to quote back."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


CLI_DESCRIBE_PROMPT = "вопрос бота (причина проблемы, числа по пункту) ждёт ответа: {wait}"


# --- scale (issue 15) ---

CLI_HELP_DOCTOR = (
    "пересчитать счётчики команды «статус» по ответам и списку школ и исправить расхождения"
)
CLI_HELP_DOCTOR_CHECK = "только проверить: ничего не менять; код 1, если есть расхождения"
CLI_DOCTOR_OK = "Счётчики «статуса» сходятся с ответами и списком школ."
CLI_DOCTOR_DRIFT = "  {table} {key}: хранилось {kept}, по пересчёту {counted}"
CLI_DOCTOR_REPAIRED = "Счётчики «статуса» расходились с ответами ({count}) и исправлены."
CLI_DOCTOR_FOUND = (
    "Счётчики «статуса» расходятся с ответами ({count}); ничего не изменено (--check). "
    "Запустите confirmbot doctor без --check, чтобы исправить."
)


# --- progress over time (issue 17) ---


def changes_since(since: dt.datetime, timezone: str, changes: Changes) -> str:
    """What changed since the last daily summary: schools that finished, new problems."""
    head = f"С прошлой сводки ({fmt_moment(since, timezone)}):"
    if not changes.finished_total and not changes.problems_total:
        return f"{head} новых выполнивших все пункты и новых проблем нет."
    lines = [head]
    if changes.finished_total:
        names = "; ".join(changes.finished)
        more = changes.finished_total - len(changes.finished)
        tail = f" и ещё {number(more)}" if more > 0 else ""
        lines.append(
            f"• выполнили все пункты: {counted(changes.finished_total, 'школа', 'школы', 'школ')}"
            f" — {names}{tail}"
        )
    if changes.problems_total:
        named = "; ".join(f"{name}, пункт {step}" for name, step in changes.problems)
        more = changes.problems_total - len(changes.problems)
        tail = f" и ещё {number(more)}" if more > 0 else ""
        lines.append(f"• новые проблемы: {number(changes.problems_total)} — {named}{tail}")
    return "\n".join(lines)


CHANGES_LIMIT = 10  # school names a summary lists of what changed; the rest are counted


# --- roster edits (issue 17) ---

CLI_ROSTER_PREVIEW = "проверка без записи (--dry-run): в базе ничего не изменено"
CLI_SCHOOL_ADDED = "школа {id} {name} добавлена"
CLI_SCHOOL_EXISTS = "школа с id {id} уже есть; переименовать: confirmbot roster rename-school"
CLI_SCHOOL_CLASH = (
    "id {id} совпадает со школой {other}, которая уже есть в базе: так получилась бы вторая "
    "школа; впишите id так же, как в базе"
)
CLI_SCHOOL_RENAMED = "школа {id} теперь называется {name}"
CLI_NO_SCHOOL = "нет школы с id {id}; список школ: confirmbot report"
CLI_BAD_SCHOOL = "школа не подходит: {problem}"
CLI_BAD_VK_ID = "{text} — не id ВКонтакте; ожидается 123, id123 или https://vk.com/id123"
CLI_BAD_ROLE = "{text} — не роль; ожидается head или deputy (руководитель, заместитель)"
CLI_BAD_PERSON = "человек не подходит: {problem}"
CLI_PERSON_ADDED = "id{id} ({name}, {role}) — в списке школы {school}"
CLI_PERSON_REMOVED = "id{id} убран из списка ({count})"
CLI_PERSON_NOT_FOUND = "id{id} нет в списке{where}; ничего не изменено"
CLI_SCHOOL_CLOSED = (
    "школа {id} {name} закрыта{reason}: её нет в итогах, должниках, напоминаниях и отчётах; "
    "люди, ответы и история сохранены (открыть снова: confirmbot roster reopen-school {id})"
)
CLI_SCHOOL_ALREADY_CLOSED = "школа {id} уже закрыта {when}{reason}; ничего не изменено"
CLI_SCHOOL_REOPENED = "школа {id} {name} снова открыта: она в итогах со своими прежними ответами"
CLI_SCHOOL_NOT_CLOSED = "школа {id} не закрыта; ничего не изменено"


def cli_reason(reason: str) -> str:
    """` (причина: …)` after a closed school, or nothing when no reason was given."""
    return f" (причина: {reason})" if reason else ""


def cli_ids(ids: tuple[str, ...], limit: int = 10) -> str:
    """The first `limit` ids, and how many more."""
    more = len(ids) - limit
    return ", ".join(ids[:limit]) + (f" и ещё {more}" if more > 0 else "")


CLI_PERSON_IN_CLOSED = (
    "предупреждение: школа {school} закрыта — бот ответит этому человеку, что школа закрыта"
)


# --- staff operations (issue 17) ---


def mark_usage(campaign: Campaign) -> str:
    """How to write `отметить`, with an example for a confirm item and a count item."""
    confirm = next((s for s in campaign.steps if s.kind is StepKind.CONFIRM), None)
    counting = next((s for s in campaign.steps if s.kind is StepKind.COUNT), None)
    lines = ["Напишите номер школы, пункт и ответ, как пишут руководители:"]
    if confirm is not None:
        lines.append(f"«отметить 009 {confirm.id} выполнено»")
    if counting is not None:
        lines.append(f"«отметить 009 {counting.id} {count_example(counting)}»")
    return "\n".join(lines)


def marked(status: SchoolStatus, items: list[tuple[Step, Answer]]) -> str:
    """What staff recorded on a school's behalf, and what the school still owes."""
    lines = [f"🏫 {status.school.name}", "Записано от имени школы:"]
    lines += [_step_line(step, answer) for step, answer in items]
    owed = status.owed()
    lines.append(
        _left_to_do(owed, titles=False)
        if owed
        else f"Все пункты приказа № {status.campaign.number} выполнены."
    )
    return "\n".join(lines)


def marked_notice(
    department: DepartmentConfig, status: SchoolStatus, items: list[tuple[Step, Answer]]
) -> str:
    """What a school's people are told when staff record an answer for it."""
    lines = [
        f"🏫 {status.school.name}",
        f"Ответ за вашу школу внесён сотрудником {department.name}:",
    ]
    lines += [_step_line(step, answer) for step, answer in items]
    lines.append("Если это ошибка, ответьте заново: «статус» покажет карточку школы.")
    return "\n".join(lines)


def school_closed_line(closed_at: dt.datetime, reason: str, timezone: str) -> str:
    """What staff see of a closed school in «школа» and «статус»."""
    because = f" (причина: {reason})" if reason else ""
    return (
        f"⛔ Школа закрыта {fmt_moment(closed_at, timezone)}{because}: её нет в итогах, "
        "должниках и напоминаниях; люди, ответы и история сохранены."
    )


def school_is_closed(school: School, closed_at: dt.datetime, reason: str, timezone: str) -> str:
    """Staff tried to answer for a closed school, mark it or extend its deadline."""
    because = f" (причина: {reason})" if reason else ""
    return (
        f"🏫 {school.name} (№ {school.id}): школа закрыта {fmt_moment(closed_at, timezone)}"
        f"{because}, за неё не отмечают ответы и не продлевают сроки. Если школу нужно "
        f"вернуть в итоги, откройте её: «confirmbot roster reopen-school {school.id}»."
    )


def no_such_school(query: str) -> str:
    return f"Школы {quoted(query)} нет в списке. Укажите номер школы, как в команде «статус»."


def not_required_usage(campaign: Campaign) -> str:
    step = campaign.steps[-1].id
    return (
        "Напишите номер школы, пункт и причину: "
        f"«не требуется 009 {step} в школе нет таких классов». "
        f"Отменить: «требуется 009 {step}»."
    )


def required_usage(campaign: Campaign) -> str:
    return f"Напишите номер школы и пункт: «требуется 009 {campaign.steps[-1].id}»."


def unknown_step(step: str, campaign: Campaign) -> str:
    steps = ", ".join(s.id for s in campaign.steps)
    return f"Нет пункта {quoted(step[:20])}. Пункты приказа: {steps}."


def not_required_marked(status: SchoolStatus, step: Step, answer: Answer) -> str:
    """The staff member's receipt for «не требуется», with how to undo it."""
    return "\n".join(
        [
            f"🏫 {status.school.name}",
            _step_line(step, answer),
            "Пункт не входит в итоги по району и считается выполненным для школы.",
            f"Отменить: «требуется {status.school.id} {step.id}».",
        ]
    )


def not_required_notice(department: DepartmentConfig, school: School, step: Step) -> str:
    """What a school's people are told when staff mark a step «не требуется» for it."""
    return (
        f"🏫 {school.name}\n"
        f"Сотрудники {department.name} отметили: пункт {step.id} {step.short_title} для вашей "
        "школы не требуется, отвечать по нему не нужно."
    )


def required_again(status: SchoolStatus, step: Step) -> str:
    """The receipt for «требуется»: the step is owed again, with the answer it had before."""
    return "\n".join(
        [
            f"🏫 {status.school.name}",
            f"Пункт {step.id} снова требуется:",
            _step_line(step, status.answers.get(step.id)),
        ]
    )


def required_already(school: School, step: Step) -> str:
    return f"🏫 {school.name}\nПункт {step.id} и так требуется: отменять нечего."


def extend_usage(campaign: Campaign) -> str:
    step = campaign.steps[-1].id
    return (
        "Напишите номер школы и новый срок: «продлить 009 25.10» — для всех пунктов, "
        f"«продлить 009 {step} 25.10» — для одного, можно со временем: «25.10 18:00». "
        "Отменить: «продлить 009 отменить»."
    )


def bad_date(said: str) -> str:
    return (
        f"Не понимаю дату {quoted(_shortened(said, 40))}. Напишите день и месяц, например "
        "«25.10», можно с годом и временем: «25.10.2023 18:00»."
    )


def past_date(moment: dt.datetime, timezone: str) -> str:
    return f"Срок {fmt_moment(moment, timezone)} уже прошёл. Укажите более позднюю дату."


def not_later_than_order(campaign: Campaign) -> str:
    return f"Новый срок должен быть позже срока приказа ({fmt_deadline(campaign)})."


def _extension_scope(step: Step | None) -> str:
    return "все пункты" if step is None else f"пункт {step.id} {step.short_title}"


def extended(school: School, step: Step | None, deadline: dt.datetime, timezone: str) -> str:
    """The staff member's receipt for `продлить`, with how to undo it."""
    undo = (
        f"продлить {school.id} отменить"
        if step is None
        else (f"продлить {school.id} {step.id} отменить")
    )
    return (
        f"🏫 {school.name}\n"
        f"Срок продлён до {fmt_moment(deadline, timezone)}: {_extension_scope(step)}. "
        "Напоминания, опоздание и сообщения контролёру — по новому сроку.\n"
        f"Отменить: {quoted(undo)}."
    )


def extended_notice(
    campaign: Campaign, school: School, step: Step | None, deadline: dt.datetime
) -> str:
    """What a school's people are told when their deadline is moved."""
    return (
        f"🏫 {school.name}\n"
        f"Срок по приказу № {campaign.number} для вашей школы продлён до "
        f"{fmt_moment(deadline, campaign.timezone)}: {_extension_scope(step)}."
    )


def extension_cancelled(school: School, campaign: Campaign, count: int) -> str:
    if not count:
        return f"🏫 {school.name}\nПродлённого срока нет: отменять нечего."
    return (
        f"🏫 {school.name}\nПродление отменено, действует срок приказа: {fmt_deadline(campaign)}."
    )


def extension_lines(
    campaign: Campaign, extended_until: dict[str, dt.datetime], timezone: str
) -> list[str]:
    """«Срок продлён до …: все пункты» for a school's card in `статус 009`."""
    lines = []
    for step_id, moment in sorted(extended_until.items()):
        step = campaign.step(step_id) if step_id else None
        if step_id and step is None:
            continue
        lines.append(
            f"📅 Срок продлён до {fmt_moment(moment, timezone)}: {_extension_scope(step)}"
        )
    return lines


def registered_notice(people: list[tuple[str, Role, str]]) -> str:
    """Who registered by code since the last notice: (mention, role, school name) each."""
    return _people_notice(
        people,
        "🆕 Новая регистрация по коду:",
        "🆕 Зарегистрировались по коду",
        "Все регистрации: «регистрации»; отвязать по ошибке: «отвязать id…».",
    )


def removed_notice(people: list[tuple[str, Role, str]]) -> str:
    """Who left a school's list since the last notice: (mention, role, school name) each."""
    return _people_notice(
        people,
        "➖ Убран(а) из списка школы:",
        "➖ Убраны из списков школ",
        "Их ответы остаются в истории; люди школы: «школа 009».",
    )


_PERSON = ("человек", "человека", "человек")


def _people_notice(people: list[tuple[str, Role, str]], one: str, many: str, tail: str) -> str:
    head = one if len(people) == 1 else f"{many}: {counted(len(people), *_PERSON)}"
    lines = [head, *(f"• {who}, {ROLE_NAME[role]}, {school}" for who, role, school in people)]
    return "\n".join([*lines, tail])


def not_required_for_school(step_id: str) -> str:
    """A head answers a step staff marked «не требуется» (fits a pop-up, 90 characters)."""
    return f"Пункт {step_id} для вашей школы не требуется: отвечать по нему не нужно."


def extended_reminder_name(school_id: str) -> str:
    """A line of `расписание`: the reminder of a school given more time."""
    return f"напоминание школе {school_id} (продлённый срок)"


# --- «школа 009» (issue 17) ---

SCHOOL_USAGE = "Напишите номер школы: «школа 009»."


def school_people(
    school: School, people: list[PersonState], timezone: str, closed: str = ""
) -> str:
    """A school's people and where each stands: on the list, registered by code, acknowledged
    the order, refusing private messages, or a screen name VK has not resolved yet; `closed`:
    the line that says the school is closed (`school_closed_line`)."""
    lines = [f"🏫 {school.name} (№ {school.id})", *([closed] if closed else [])]
    for item in people:
        if item.person is None:
            role = ROLE_NAME[item.role] if item.role is not None else ""
            lines.append(
                f"• {item.name}, {role} — vk.com/{item.screen_name}: ещё не найден(а) "
                f"ВКонтакте{': ' + item.problem if item.problem else ''}"
            )
            continue
        person = item.person
        states = [
            f"зарегистрировался(ась) по коду {fmt_moment(item.registered_at, timezone)}"
            if item.registered_at is not None
            else "из списка"
        ]
        states.append(
            f"ознакомлен(а) с приказом {fmt_moment(item.acknowledged_at, timezone)}"
            if item.acknowledged_at is not None
            else "с приказом не ознакомлен(а)"
        )
        if item.unreachable:
            states.append("личные сообщения от бота закрыты — упоминаем в беседе")
        lines.append(
            f"• {mention(person.person_id, person.full_name)}, {ROLE_NAME[person.role]} — "
            + "; ".join(states)
        )
    if not people:
        lines.append(
            "В списке школы никого нет: добавьте людей (confirmbot roster add-person) или "
            "дайте школе код регистрации."
        )
    return "\n".join(lines)


# --- several orders at once (issue 14) -----------------------------------------------------


def order_name(campaign: Campaign) -> str:
    return f"Приказ № {campaign.number} от {campaign.date:%d.%m.%Y}"


def order_overview(status: DistrictStatus, closed_at: dt.datetime | None = None) -> str:
    """One order in a few lines: what it is, how many schools finished, each step's count."""
    campaign = status.campaign
    when = (
        f"закрыт {fmt_moment(closed_at, campaign.timezone)}"
        if closed_at is not None
        else time_left(campaign, status.now)
    )
    steps = ", ".join(
        f"{s.step.id} — {number(s.done)}"
        + (f" (не требуется {number(s.not_required)})" if s.not_required else "")
        for s in status.steps
    )
    return "\n".join(
        [
            f"📋 {order_name(campaign)} {quoted(campaign.title)}",
            f"Выполнили все пункты: {number(status.finished)} из {of_schools(status.schools)} "
            f"({percent_of(status.finished, status.schools)}); {when}",
            f"Выполнено по пунктам, школ: {steps}",
        ]
    )


def orders_overview(items: Sequence[tuple[DistrictStatus, dt.datetime | None]]) -> str:
    """`приказы` and `статус` when several orders are open."""
    if not items:
        return NO_OPEN_ORDERS_STAFF
    opened = [order_overview(status) for status, closed in items if closed is None]
    closed = [order_overview(status, closed) for status, closed in items if closed is not None]
    parts = [f"Открытые приказы: {number(len(opened))}"] if opened else [NO_OPEN_ORDERS_STAFF]
    parts += opened
    if closed:
        parts.append(f"Закрытые (последние {number(len(closed))}):")
        parts += closed
    parts.append("Один приказ подробно: «статус 47»; школа по приказу: «статус 47 009».")
    return "\n\n".join(parts)


NO_OPEN_ORDERS_STAFF = (
    "Открытых приказов нет. Новый приказ добавляется командой сервера "
    "«confirmbot campaign add файл.toml»."
)
NO_OPEN_ORDERS = "Сейчас нет открытых приказов, по которым нужно отчитываться. Спасибо!"


def order_closed(campaign: Campaign) -> str:
    return f"{order_name(campaign)} закрыт: ответы по нему больше не принимаются."


def order_closed_short(campaign: Campaign) -> str:
    """For a pop-up (90 characters)."""
    return f"Приказ № {campaign.number} закрыт, ответы не принимаются."


# How a command is written, for «name the order» examples.
COMMAND_WORD = {
    AdminCommand.STATUS: "статус",
    AdminCommand.PENDING: "должники",
    AdminCommand.REPORT: "отчёт",
    AdminCommand.ANNOUNCE: "объявить",
    AdminCommand.MARK: "отметить",
    AdminCommand.NOT_REQUIRED: "не требуется",
    AdminCommand.REQUIRED: "требуется",
    AdminCommand.EXTEND: "продлить",
}


def name_the_order(command: str, numbers: Sequence[str]) -> str:
    shown = ", ".join(numbers)
    example = numbers[-1] if numbers else "47"
    return (
        f"Сейчас открыто несколько приказов ({shown}). Напишите номер приказа после команды, "
        f"например: «{command} {example}»."
    )


def name_the_order_for_own_step(numbers: Sequence[str]) -> str:
    example = numbers[-1] if numbers else "47"
    return (
        f"Такой пункт есть в нескольких открытых приказах ({', '.join(numbers)}). Напишите "
        f"номер приказа перед ответом, например: «{example}: 2.1 выполнено»."
    )


def no_such_order(ref: str) -> str:
    return f"Приказа {quoted(ref)} нет. Список приказов — «приказы»."


def choose_order_for_answer(text: str) -> str:
    return (
        f"Такой пункт есть в нескольких открытых приказах. К какому приказу относится ответ "
        f"{quoted(_shortened(text))}? Выберите кнопкой."
    )


def answer_for_order(text: str, campaign: Campaign) -> str:
    return f"Ответ {quoted(_shortened(text))} — по приказу № {campaign.number}."


def order_button(campaign: Campaign, school: School | None = None) -> str:
    label = f"Приказ № {campaign.number}"
    if school is not None:
        label = f"№ {campaign.number} — {school.name}"
    return label[:40]


def orders_card(items: Sequence[tuple[Campaign, School, int]], now: dt.datetime) -> str:
    """The card when several orders are open: what each still needs from the school."""
    schools = {school.id: school for _, school, _ in items}
    lines = ["По каким приказам нужны ответы:"]
    if len(schools) == 1:
        lines.insert(0, f"🏫 {next(iter(schools.values())).name}")
    for campaign, school, owed in items:
        left = (
            f"осталось {counted(owed, 'пункт', 'пункта', 'пунктов')}" if owed else "всё выполнено"
        )
        where = f" — {school.name}" if len(schools) > 1 else ""
        lines.append(f"• {order_name(campaign)}{where}: {left}; {time_left(campaign, now)}")
    lines.append("Выберите приказ кнопкой ниже.")
    return "\n".join(lines)


# --- a campaign drafted from an order's text (issue 14) ---
# `confirmbot campaign draft`: what it prints and the comments of the file it writes. The order's
# own words (addressees, items) come from the order, never from here.

CLI_HELP_DRAFT = (
    "черновик файла кампании из текста приказа (.txt или .docx): проверьте его и поправьте "
    "короткие названия, прежде чем добавлять"
)
CLI_HELP_DRAFT_ORDER = "файл приказа: .txt (UTF-8 или Windows-1251) или .docx"
CLI_HELP_DRAFT_FORCE = "перезаписать файл, если он уже есть"
CLI_HELP_DRAFT_TIMEZONE = "часовой пояс срока (по умолчанию Europe/Moscow)"
CLI_DRAFT_EXISTS = "{path} уже есть; чтобы перезаписать его, добавьте --force"
CLI_DRAFT_WRITTEN = (
    "черновик кампании записан в {path}: пунктов {count} (руководителям {heads}, "
    "сотрудникам {staff})"
)
CLI_DRAFT_NOTES = "что сделано при чтении приказа:"
CLI_DRAFT_PROBLEMS = "что не удалось прочитать (проверьте по приказу):"
CLI_DRAFT_LOADS = "файл кампании в порядке: его можно добавлять после проверки"
CLI_DRAFT_DOES_NOT_LOAD = "пока файл кампании не принимается — допишите в нём:"
CLI_DRAFT_NOTHING = (
    "в приказе не найдено ни одного пункта руководителям или сотрудникам: {path} не записан"
)

DRAFT_SUFFIX = "{path}: приказ читается из файла .txt или .docx"
DRAFT_NO_FILE = "нет файла {path}"
DRAFT_IS_A_DIRECTORY = "{path} — это папка, а не файл приказа"
DRAFT_UNREADABLE = "не удаётся прочитать {path}: {reason}"
DRAFT_NOT_TEXT = "{path} — не текстовый файл; сохраните приказ как .txt (UTF-8) или .docx"
DRAFT_BAD_DOCX = (
    "{path} не читается как документ Word .docx (может быть, это .doc или повреждённый "
    "файл); сохраните приказ в Word как .docx или как текст .txt"
)
DRAFT_NO_ORDERS_WORD = "нет строки «ПРИКАЗЫВАЮ:» — пункты искались во всём тексте"
DRAFT_UNPLACED = "похоже на пункт, но не понятно, к какому пункту и кому он относится: {line}"
DRAFT_EMPTY_ITEM = "пункт {id} ({text}): нет текста пункта"
DRAFT_REPEATED_ID = "пункт {id} встречается дважды: в черновике только первый"
DRAFT_TOO_LONG = "пункт {id}: текст длиннее 1000 знаков — не включён, разделите его на подпункты"
DRAFT_PERCENT_OF_WHAT = (
    "пункт {id}: процент не людей, которых бот умеет считать (педагоги, ученики, родители, "
    "сотрудники) — оставлен пунктом confirm"
)
DRAFT_NO_SHORT_TITLE = "пункт {id}: короткое название не подобрать из слов пункта — впишите своё"
DRAFT_SHORT_TITLE_FALLBACK = "Пункт {id}"
DRAFT_LEFT_OUT = "пункт {id} не включён: адресован не руководителям и не сотрудникам ({addressee})"
DRAFT_NO_ADDRESSEE = "адресат не назван"
DRAFT_BULLET = "без номера"
DRAFT_RENUMBERED = "у пунктов нет номеров вида 3.1 — даны номера, которые пишут в ответах: {ids}"
DRAFT_DEADLINES_DIFFER = (
    "у пунктов разные сроки: срок кампании — самый поздний, {deadline:%d.%m.%Y %H:%M}; срок "
    "каждого пункта — в комментарии над ним"
)
DRAFT_UNDATED = "у пунктов {ids} своего срока нет — для них действует срок кампании"
DRAFT_DEADLINE_ELSEWHERE = "у пунктов своих сроков нет; срок кампании взят из слов: {words}"
DRAFT_SPELLED = "Сферум и VK Мессенджер написаны так, как их пишет бот: {where}"
DRAFT_RECASED = (
    "издатель взят из шапки бланка, написанной прописными буквами, и записан строчными — "
    "проверьте заглавные буквы в issuer"
)
DRAFT_THE_TITLE = "название приказа"
DRAFT_NOT_FOUND = "не найден {what}"
DRAFT_NO_STEPS = "нет ни одного пункта руководителям или сотрудникам"
DRAFT_WHAT_NUMBER = "номер приказа (№ …)"
DRAFT_WHAT_DATE = "дата приказа"
DRAFT_WHAT_TITLE = "заголовок приказа (строка «О …» после слова ПРИКАЗ)"
DRAFT_WHAT_ISSUER = "издатель приказа (шапка бланка)"
DRAFT_WHAT_DEADLINE = "срок исполнения («в срок до ДД.ММ.ГГГГ»)"
DRAFT_AUDIENCE = {
    "heads": "руководители школ",
    "staff": 'сотрудники, audience = "staff"',
}

DRAFT_TOML_HEAD = "Черновик кампании из приказа {source} (confirmbot campaign draft)."
DRAFT_TOML_REVIEW = (
    "Тексты пунктов (title) — слова приказа; short_title, виды пунктов и части (parts)",
    "предложены — проверьте их по приказу, прежде чем добавлять кампанию.",
)
DRAFT_TOML_MISSING = "{key} = …  — не найден {what}: впишите"
DRAFT_TOML_DEADLINE_WORDS = "{words} — до конца дня по местному времени, если время не названо."
DRAFT_TOML_LATEST = "У пунктов разные сроки: здесь самый поздний; срок каждого — над пунктом."
DRAFT_TOML_ADDRESSEE = "{addressee} — {audience}"
DRAFT_TOML_STEP_DEADLINE = "срок пункта в приказе: {deadline:%d.%m.%Y %H:%M}"
DRAFT_TOML_NUMBERED_AS = "в приказе: {numbered_as}"
DRAFT_TOML_SHORT_TITLE = "предложено, до 60 знаков: что это за пункт, а не его состояние"
DRAFT_TOML_LEFT_OUT = (
    "Не включены — адресованы не руководителям и не сотрудникам (отделу, должностному лицу):"
)
# --- the department's web page (issue 18): «войти» and «выйти» ---------------------------------

WEB_LOGIN_PRIVATE_ONLY = (
    "Ссылку для входа на страницу бот присылает только в личные сообщения: напишите мне "
    "«войти» в личном диалоге."
)
WEB_NOT_CONFIGURED = (
    "Веб-страница не настроена: нет раздела [web] в файле конфигурации бота. Обратитесь к "
    "тому, кто настраивал бота."
)


def web_login_link(url: str, minutes: int) -> str:
    """The one-time link; it says how long it works and that it works once."""
    return (
        f"Ссылка для входа на страницу с таблицей школ:\n{url}\n\n"
        f"Она действует {counted(minutes, 'минуту', 'минуты', 'минут')} и открывается один "
        "раз. Никому её не пересылайте. Выйти: кнопка «Выйти» на странице или «выйти» здесь."
    )


def web_logged_out(sessions: int) -> str:
    if sessions == 0:
        return "Открытых входов на страницу не было. Новая ссылка: «войти»."
    return f"Вход на страницу закрыт (сеансов: {sessions}). Новая ссылка: «войти»."
