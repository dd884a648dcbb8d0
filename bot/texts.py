"""Every user-facing string, in Russian, and the formatting of replies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from bot import mentions
from bot.domain import Answer, AnswerSource, Campaign, Role, School, Step, StepKind
from bot.domain import StepState as S
from bot.parsing import AnswerError, AnswerProblem
from bot.status import DistrictStatus, PendingSchool, SchoolStatus, percent

# VK cuts a message at 4096 characters; we split a little below that.
MESSAGE_LIMIT = 4000

BUTTON_REPORT = "Отчитаться"
BUTTON_ACKNOWLEDGE = "Ознакомлен"
BUTTON_BACK = "← Все шаги"

STATE_BUTTON = {S.DONE: "Выполнено", S.IN_PROGRESS: "В работе", S.PROBLEM: "Проблема"}
STATE_NAME = {
    S.DONE: "выполнено",
    S.IN_PROGRESS: "в работе",
    S.PROBLEM: "проблема",
    S.NONE: "нет ответа",
}
STATE_MARK = {S.DONE: "✅", S.IN_PROGRESS: "⏳", S.PROBLEM: "⚠️", S.NONE: "▫️"}
ROLE_NAME = {Role.HEAD: "руководитель", Role.DEPUTY: "заместитель"}
SOURCE_NAME = {
    AnswerSource.BUTTON: "кнопка",
    AnswerSource.TEXT: "текст",
    AnswerSource.ADMIN: "админ",
}

STRANGER = (
    "Здравствуйте! Этот бот собирает отчёты школ об исполнении приказа Управления образования. "
    "Вас нет в списке руководителей школ. Если вы руководитель или заместитель, обратитесь "
    "в организационно-аналитический отдел Управления образования, чтобы вас добавили."
)
STRANGER_SHORT = "Вас нет в списке руководителей школ. Обратитесь в Управление образования."
STAFF_NOT_A_HEAD = "Эти кнопки — для руководителей школ. Вам: «статус», «помощь»."
NOT_YOUR_SCHOOL = (
    "Вы не можете отвечать за эту школу. Карточка вашей школы — по кнопке «Отчитаться»."
)
BAD_BUTTON = "Эта кнопка устарела или повреждена. Напишите «помощь» или нажмите «Отчитаться»."
ADMIN_ONLY = "Эта команда доступна только сотрудникам Управления образования."
ADMIN_IN_HEADS_CHAT = (
    "Эту команду задавайте в чате администрации или в личных сообщениях сообществу."
)
UNKNOWN_SCHOOL = "Школа «{query}» не найдена. Укажите номер школы или часть названия."
SEVERAL_SCHOOLS = "Найдено несколько школ, уточните запрос:\n{items}"
ACK_THANKS = "Спасибо, отмечено: вы ознакомлены с приказом № {number}."
ACK_ALREADY = "Вы уже отметили, что ознакомлены с приказом."
CARD_SENT_PRIVATELY = "Карточка школы отправлена вам в личные сообщения."
CHOOSE_SCHOOL = "Вы отвечаете за несколько школ. Выберите школу:"
ASK_REASON = (
    "Шаг {step} отмечен как «Проблема». Коротко опишите, в чём проблема, одним сообщением "
    "(в чате — начните с «/»: «/нет интернета»)."
)
ASK_COUNTS = (
    "Шаг {step}: {title}\nНапишите числа: {example}\n"
    "(в чате — с «/» в начале: «/{step} {example}»)."
)
ALL_DONE = "Спасибо! Школа «{school}» выполнила все шаги приказа № {number}. 🎉"
LATE_NOTE = "Срок прошёл — ответ принят с отметкой «с опозданием»."
SNACK_SAVED = "Принято: {step} — {state}"
ASK_WRITE_TO_COMMUNITY = (
    "{mention}, не удаётся написать вам в личные сообщения. Пожалуйста, напишите сообществу "
    "один раз любое сообщение (например, «помощь»), чтобы бот мог присылать вам карточку школы."
)
WELCOME_CHAT = (
    "Здравствуйте! Я бот Управления образования: собираю отчёты школ по приказу № {number}. "
    "Чтобы я видел команды в этом чате, дайте мне доступ ко всем сообщениям беседы или пишите "
    "команды с «/» в начале: «/статус», «/помощь»."
)

ANSWER_ERRORS = {
    AnswerError.UNKNOWN_STEP: "Нет шага «{step}». Шаги приказа: {steps}.",
    AnswerError.NO_STATE: (
        "Не понял ответ по шагу {step}. Напишите, например: «{step} выполнено», "
        "«{step} в работе» или «{step} проблема нет интернета»."
    ),
    AnswerError.COUNT_FORMAT: "Для шага {step} нужны числа: {example}.",
    AnswerError.COUNT_OVER_TOTAL: (
        "Шаг {step}: {detail} — подключённых не может быть больше, чем всего, а всего — "
        "меньше одного. Пример: {example}."
    ),
    AnswerError.COUNT_NEGATIVE: "Шаг {step}: числа не могут быть отрицательными ({detail}).",
    AnswerError.COUNT_MISSING_PART: "Шаг {step}: не хватает чисел: {detail}. Пример: {example}.",
    AnswerError.COUNT_TOO_LARGE: "Шаг {step}: слишком большое число ({detail}).",
    AnswerError.REASON_TOO_LONG: "Шаг {step}: опишите проблему короче, до 500 символов.",
}

HELP_HEAD = (
    "Вы отвечаете за школу «{school}».\n"
    "• «Отчитаться» или любое сообщение — карточка школы с кнопками.\n"
    "• Текстом: «3.1 выполнено», «3.1 в работе», «3.4 проблема нет интернета», "
    "«3.2 педагоги 45/50 ученики 380/412».\n"
    "Ответ можно изменить до срока: {deadline}."
)
HELP_ADMIN = (
    "Команды (можно с «/», регистр не важен):\n"
    "• статус (status) — сводка по району\n"
    "• статус <номер или часть названия> — одна школа\n"
    "• должники (pending) — кто ещё не отчитался, с упоминаниями\n"
    "• статус картинка (status chart) — сводка и картинка с ходом исполнения\n"
    "• отчет (report) — отчёт Excel файлом в этот чат\n"
    "• напомнить (remind) — напомнить должникам сейчас\n"
    "• расписание (schedule) — что и когда бот отправит сам\n"
    "• пауза (pause) / продолжить (resume) — остановить / возобновить автоматические сообщения\n"
    "• привязать админ|руководители (bind) — в беседе: сделать её чатом администрации или "
    "руководителей\n"
    "• регистрации (registrations) — кто зарегистрировался по коду; отвязать <id> (unbind)\n"
    "• объявить (announce) — разослать приказ в чаты руководителей\n"
    "• помощь (help) — эта справка"
)


def local(moment: dt.datetime, timezone: str) -> dt.datetime:
    return moment.astimezone(ZoneInfo(timezone))


def fmt_moment(moment: dt.datetime, timezone: str) -> str:
    return local(moment, timezone).strftime("%d.%m.%Y %H:%M")


def fmt_deadline(campaign: Campaign) -> str:
    return fmt_moment(campaign.deadline, campaign.timezone)


def time_left(campaign: Campaign, now: dt.datetime) -> str:
    delta = campaign.deadline - now
    if delta.total_seconds() <= 0:
        return f"срок истёк {fmt_deadline(campaign)} ({_span(-delta)} назад)"
    return f"до срока {_span(delta)} (до {fmt_deadline(campaign)})"


def _span(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} дн. {hours} ч."
    if hours:
        return f"{hours} ч. {minutes} мин."
    return f"{minutes} мин."


def mention(person_id: int, name: str) -> str:
    """A mention, rendered by each messenger's adapter as it marks one (`bot/mentions.py`)."""
    return mentions.mention(person_id, name)


def step_button_label(step: Step) -> str:
    return f"{step.id} {step.short_title}"[:40]


def count_example(step: Step) -> str:
    return " ".join(f"{part.title} 45/50" for part in step.parts)


def answer_error(problem: AnswerProblem, campaign: Campaign) -> str:
    step = campaign.step(problem.step_id)
    return ANSWER_ERRORS[problem.error].format(
        step=problem.step_id or "?",
        steps=", ".join(s.id for s in campaign.steps),
        detail=problem.detail,
        example=count_example(step) if step is not None and step.parts else "45/50",
    )


def _counts(answer: Answer, step: Step) -> str:
    parts = []
    for part in step.parts:
        count = answer.counts.get(part.key)
        if count is not None:
            parts.append(
                f"{part.title} {count.done} из {count.total} ({percent(count.done, count.total)}%)"
            )
    return ", ".join(parts)


def _step_line(step: Step, answer: Answer | None) -> str:
    state = S.NONE if answer is None else answer.state
    line = f"{STATE_MARK[state]} {step.id} {step.short_title} — {STATE_NAME[state]}"
    if answer is not None and step.kind is StepKind.COUNT and answer.counts:
        line += f": {_counts(answer, step)}"
    if answer is not None and answer.reason:
        line += f" ({answer.reason})"
    if answer is not None and answer.late:
        line += " [с опозданием]"
    return line


def announcement(campaign: Campaign) -> str:
    lines = [
        f"📋 Приказ № {campaign.number} от {campaign.date:%d.%m.%Y}",
        f"«{campaign.title}»",
    ]
    if campaign.issuer:
        lines.append(campaign.issuer)
    lines += ["", f"Руководителям школ в срок до {fmt_deadline(campaign)}:"]
    lines += [f"{step.id}. {step.title}" for step in campaign.steps]
    lines += [
        "",
        "Нажмите «Ознакомлен», чтобы отметить, что вы ознакомлены с приказом, и «Отчитаться», "
        "чтобы отметить выполнение шагов. Можно и текстом: «/3.1 выполнено».",
    ]
    return "\n".join(lines)


def card(status: SchoolStatus, now: dt.datetime) -> str:
    campaign = status.campaign
    lines = [f"🏫 {status.school.name}", f"Приказ № {campaign.number}: {time_left(campaign, now)}"]
    lines += [_step_line(step, status.answers.get(step.id)) for step in campaign.steps]
    owed = status.owed()
    if owed:
        lines += ["", "Осталось: " + ", ".join(s.id for s in owed), "Выберите шаг кнопкой ниже."]
    else:
        lines += ["", "Все шаги выполнены. Спасибо!"]
    return "\n".join(lines)


def step_prompt(campaign: Campaign, school: School, step: Step) -> str:
    if step.kind is StepKind.COUNT:
        return f"🏫 {school.name}\n" + ASK_COUNTS.format(
            step=step.id, title=step.title, example=count_example(step)
        )
    return f"🏫 {school.name}\nШаг {step.id}: {step.title}\nВыберите состояние:"


def receipt(status: SchoolStatus, step: Step, answer: Answer, now: dt.datetime) -> str:
    lines = [f"Принято: {_step_line(step, answer)}"]
    if answer.late:
        lines.append(LATE_NOTE)
    owed = status.owed()
    if owed:
        lines.append("Осталось: " + ", ".join(f"{s.id} {s.short_title}" for s in owed))
    else:
        lines.append(ALL_DONE.format(school=status.school.name, number=status.campaign.number))
    return "\n".join(lines)


def district_status(status: DistrictStatus) -> str:
    campaign = status.campaign
    lines = [
        f"📊 Приказ № {campaign.number} от {campaign.date:%d.%m.%Y}",
        f"Выполнили все шаги: {status.finished} из {status.schools} школ ({status.percent}%)",
        time_left(campaign, status.now),
        "",
        "По шагам (выполнено / в работе / проблема / нет ответа):",
    ]
    for summary in status.steps:
        lines.append(
            f"{summary.step.id} {summary.step.short_title}: {summary.done} / "
            f"{summary.in_progress} / {summary.problem} / {summary.none}"
        )
        for part in summary.parts:
            lines.append(
                f"   {part.title}: подключено {part.done} из {part.total} ({part.percent}%)"
            )
    lines.append(
        f"Ознакомлены с приказом: {status.acknowledged_people} из {status.people} человек"
    )
    return "\n".join(lines)


def school_status(
    status: SchoolStatus,
    names: dict[int, str],
    timezone: str,
    verification: tuple[bool | None, list[str]] = (None, []),
) -> str:
    lines = [f"🏫 {status.school.name} (№ {status.school.id})"]
    for step in status.campaign.steps:
        answer = status.answers.get(step.id)
        line = _step_line(step, answer)
        if answer is not None:
            who = names.get(answer.answered_by, f"id{answer.answered_by}")
            line += (
                f"\n   ответил(а): {who}, {fmt_moment(answer.answered_at, timezone)}, "
                f"{SOURCE_NAME[answer.source]}"
            )
            if step.verified_by:
                line += " (со слов руководителя)"
        if step.verified_by:
            line += "\n" + verification_line(step, *verification)
        lines.append(line)
    lines.append("Люди:")
    for person in status.people:
        ack = status.acknowledged.get(person.vk_id)
        ack_text = f"ознакомлен(а) {fmt_moment(ack, timezone)}" if ack else "не ознакомлен(а)"
        lines.append(f"• {person.full_name}, {ROLE_NAME[person.role]} — {ack_text}")
    return "\n".join(lines)


def several_schools(schools: Iterable[School]) -> str:
    return SEVERAL_SCHOOLS.format(items="\n".join(f"• {s.id}: {s.name}" for s in schools))


# A chat message lists at most this many schools; the Excel report has them all.
PENDING_LIST_LIMIT = 300


def pending(
    campaign: Campaign, schools: list[PendingSchool], total: int, owing: int | None = None
) -> str:
    owing = len(schools) if owing is None else owing
    if not owing:
        return f"Все {total} школ выполнили все шаги приказа № {campaign.number}. 🎉"
    lines = [f"Не выполнили все шаги: {owing} из {total} школ"]
    for item in schools:
        owed = [
            f"{step.id} ({STATE_NAME[item.states.get(step.id, S.NONE)]})"
            for step in campaign.steps
            if item.states.get(step.id, S.NONE) is not S.DONE
        ]
        people = ", ".join(mention(p.vk_id, p.full_name) for p in item.people) or "нет людей"
        lines.append(f"• {item.school.name}: {', '.join(owed)} — {people}")
    if owing > len(schools):
        lines.append(MORE_SCHOOLS.format(more=owing - len(schools)))
    return "\n".join(lines)


def head_help(school_names: list[str], campaign: Campaign) -> str:
    return HELP_HEAD.format(school=", ".join(school_names), deadline=fmt_deadline(campaign))


def ask_to_write(name: str | None, vk_id: int) -> str:
    return ASK_WRITE_TO_COMMUNITY.format(mention=mention(vk_id, name or f"id{vk_id}"))


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


MORE_SCHOOLS = "…и ещё {more} школ: полный список — в отчёте Excel («отчет»)."
ANNOUNCED = "Приказ разослан в чаты руководителей: {chats}."

DAILY_SUMMARY_HEAD = "🗓 Ежедневная сводка"
FINAL_SUMMARY_HEAD = "🏁 Срок исполнения приказа наступил. Итоговая сводка"
REMINDED = (
    "Напоминания отправлены: школ-должников {schools}, личных сообщений {private}, "
    "упомянуты в чате руководителей {mentioned}. Плановые напоминания остаются в силе."
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
    "escalation": "эскалация контролёру",
}


def _owed_states(campaign: Campaign, owed: list[tuple[str, S]]) -> str:
    titles = {step.id: step.short_title for step in campaign.steps}
    return ", ".join(f"{sid} {titles.get(sid, '')} ({STATE_NAME[state]})" for sid, state in owed)


def _owed_list(campaign: Campaign, item: PendingSchool) -> str:
    owed = [
        (step.id, item.states.get(step.id, S.NONE))
        for step in campaign.steps
        if item.states.get(step.id, S.NONE) is not S.DONE
    ]
    return _owed_states(campaign, owed)


def reminder(campaign: Campaign, owed: list[tuple[str, S]], now: dt.datetime) -> str:
    """The same text for every school that owes the same steps, so it can go in one batch."""
    return (
        f"⏰ Напоминание: приказ № {campaign.number}, {time_left(campaign, now)}.\n"
        f"Ваша школа ещё не отчиталась по шагам: {_owed_states(campaign, owed)}.\n"
        "Нажмите «Отчитаться» или напишите, например, «3.1 выполнено»."
    )


def reminder_in_chat(
    campaign: Campaign, items: list[tuple[PendingSchool, list[int]]], now: dt.datetime
) -> str:
    lines = [
        f"⏰ Напоминание: приказ № {campaign.number}, {time_left(campaign, now)}.",
        "Не удалось написать в личные сообщения — ещё не отчитались:",
    ]
    for item, people in items:
        names = {p.vk_id: p.full_name for p in item.people}
        who = ", ".join(mention(vk_id, names.get(vk_id, f"id{vk_id}")) for vk_id in people)
        lines.append(f"• {item.school.name}: {_owed_list(campaign, item)} — {who}")
    lines.append(
        "Напишите сообществу любое сообщение, чтобы получать карточку школы лично, "
        "или ответьте здесь: «/3.1 выполнено»."
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
    head = (
        f"🚨 Приказ № {campaign.number}: {time_left(campaign, now)}. "
        f"Не исполнили в срок {owing} из {total} школ:"
    )
    lines = [head]
    for item in items:
        people = ", ".join(
            f"{mention(p.vk_id, p.full_name)} ({ROLE_NAME[p.role]})" for p in item.people
        )
        lines.append(
            f"• {item.school.name}: {_owed_list(campaign, item)} — {people or 'нет людей'}"
        )
    if owing > len(items):
        lines.append(MORE_SCHOOLS.format(more=owing - len(items)))
    return "\n".join(lines)


def problem_notice(school: School, step: Step, reason: str, who: str) -> str:
    """Who reported it comes before the head's own words, which stay on one quoted line: a
    reason cannot write a «Сообщил(а)» of its own."""
    reason = " ".join(reason.split())
    because = f"«{reason}»" if reason else "не указана (бот спросил у руководителя)"
    return (
        f"⚠️ Проблема: {school.name}, шаг {step.id} {step.short_title}\n"
        f"Сообщил(а): {who}\n"
        f"Причина: {because}"
    )


def schedule(lines: list[tuple[str, dt.datetime]], paused: bool, timezone: str) -> str:
    out = ["Расписание автоматических сообщений" + (" (ПРИОСТАНОВЛЕНО):" if paused else ":")]
    if not lines:
        out.append("ничего не запланировано")
    out += [f"• {fmt_moment(moment, timezone)} — {name}" for name, moment in lines]
    return "\n".join(out)


BUTTON_ROLE = {Role.HEAD: "Я руководитель", Role.DEPUTY: "Я заместитель"}
REG_IN_PRIVATE = "Регистрация — в личных сообщениях сообществу: напишите «регистрация КОД»."
REG_CHOOSE_ROLE = "Код подошёл: {school}. Кто вы в школе? Нажмите кнопку."
REG_UNKNOWN = (
    "Такого кода нет. Проверьте код из письма Управления образования (6 знаков, например "
    "K7M4PQ) и напишите: «регистрация КОД»."
)
REG_EXPIRED = (
    "Срок действия этого кода истёк вместе с приказом. Обратитесь в Управление образования."
)
REG_REVOKED = "Этот код отозван. Запросите новый код в Управлении образования."
REG_TOO_MANY = "Слишком много неверных кодов. Попробуйте через час или обратитесь в Управление."
REG_NO_PENDING = "Сначала напишите «регистрация КОД» с кодом вашей школы."
REG_DONE = "Готово: вы — {role} школы «{school}». Теперь вы можете отчитываться за неё."
BIND_USAGE = "Напишите в нужной беседе: «/привязать админ» или «/привязать руководители»."
BIND_ONLY_IN_CHAT = "Команду «привязать» пишут в самой беседе, которую нужно привязать."
BOUND = "Беседа привязана как {kind}."
BOUND_KIND = {"admin": "чат администрации", "heads": "чат руководителей"}
NO_MEMBER_ACCESS = (
    "Чтобы бот сам проверял шаг «{step}» (кто из руководителей в беседе), назначьте сообщество "
    "администратором беседы."
)
UNBIND_USAGE = "Укажите, кого отвязать: «отвязать 123456» или «отвязать https://vk.com/id123456»."
UNBOUND = "Отвязано записей: {count}. Ответы этого человека остаются в истории."
NO_REGISTRATIONS = "Самостоятельно зарегистрированных пока нет."


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
    """Step 3.3 as the bot sees it, beside what the head said."""
    if verified is None:
        return f"   {step.id}: бот не видит участников бесед — только со слов руководителя"
    if verified:
        return f"   {step.id}: подтверждено ботом — все в беседе руководителей"
    return f"   {step.id}: бот не видит в беседе руководителей: {', '.join(missing)}"


# -- files in the chat: the Excel report and the progress picture -------------------------------

# No spaces and nothing a file system refuses: the name survives download on any phone.
REPORT_FILENAME = "Отчет_приказ_{number}_{moment:%Y-%m-%d_%H%M}.xlsx"
REPORT_CAPTION = (
    "📎 Отчёт по приказу № {number} на {moment}: выполнили все шаги {finished} из {schools} "
    "школ ({percent}%). Листы: «Сводка», «Должники», «История»."
)
REPORT_FAILED = (
    "Не удалось подготовить отчёт Excel. Попробуйте ещё раз через несколько минут; если не "
    "получится — сообщите тому, кто обслуживает бота."
)
REPORT_UPLOAD_FAILED = (
    "Не удалось отправить отчёт Excel в этот чат: ВКонтакте не принял файл. Попробуйте ещё раз "
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

# The picture: Russian labels, readable on a phone.
CHART_TITLE = "Приказ № {number}: ход исполнения"
CHART_MOMENT = "на {moment}, срок — {deadline}"
CHART_FINISHED = "Выполнили все шаги: {finished} из {schools} школ ({percent}%)"
CHART_STEP_VALUE = "{percent}%"
CHART_STEP_COUNTS = (
    "выполнили {done} из {schools} школ; в работе {in_progress}, проблема {problem}"
)
CHART_PART = "{title}: подключено {done} из {total}"
CHART_PART_VALUE = "{percent}%"
CHART_PEOPLE = "подключено, по числам школ"


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
        finished=finished,
        schools=schools,
        percent=percent(finished, schools),
    )


def chart_caption(campaign: Campaign, now: dt.datetime) -> str:
    return CHART_CAPTION.format(number=campaign.number, moment=fmt_moment(now, campaign.timezone))
