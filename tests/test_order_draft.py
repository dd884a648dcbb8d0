"""`confirmbot campaign draft`: a campaign file drafted from an order's text (issue 14, point 6).

The orders in tests/data/orders/: order_47.txt is the seed order No. 47 as the department sent
it; order_52.txt («1.1.», «1.2)», a deadline per item, a title on two lines, a line that cannot
be placed), order_61.txt («а)», «б)», «в)», an item with its words on the addressee's line, a
deadline with a time); the .docx with its items in a table is built here with python-docx.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import zoneinfo
from pathlib import Path

import docx
import docx.document
import pytest
from docx.oxml import parse_xml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.__main__ import main
from bot.campaign import default_campaign_path, load_campaign, parse_campaign
from bot.domain import Campaign, StepKind
from bot.order_draft import (
    OrderDraft,
    OrderReadError,
    draft_order,
    read_blocks,
    spell_products,
    write_draft,
)

ORDERS = Path(__file__).parent / "data" / "orders"
MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")


def draft_of(path: Path) -> tuple[OrderDraft, list[str], Campaign]:
    draft, problems = draft_order(read_blocks(path))
    campaign = parse_campaign(tomllib.loads(write_draft(draft, source=path.name)))
    return draft, problems, campaign


def source_words(path: Path) -> str:
    """The order's words as one line each paragraph or cell, spaces folded, with the one
    change the draft makes to them: Сферум and VK Мессенджер spelled as the bot spells them."""
    if path.suffix == ".docx":
        blocks = read_blocks(path)
        text = "\n".join(b if isinstance(b, str) else "\n".join(b) for b in blocks)
    else:
        text = path.read_text(encoding="utf-8")
    return " ".join(spell_products(text.replace("**", "")).split())


def assert_nothing_invented(path: Path, draft: OrderDraft) -> None:
    words = source_words(path)
    for step in draft.steps:
        assert step.title in words, step.title
    for entry in draft.left_out:
        assert " ".join(spell_products(entry.text).split()) in words


# --- the seed order -----------------------------------------------------------------------------


def test_the_seed_order_drafts_a_campaign_that_loads_without_editing() -> None:
    draft, problems, campaign = draft_of(ORDERS / "order_47.txt")

    assert problems == []
    assert campaign.id == "order_47"
    assert campaign.number == "47"
    assert campaign.date == dt.date(2023, 10, 16)
    assert campaign.title == "О переходе на ИКОП «Сферум» и VK Мессенджер"
    assert campaign.issuer.startswith("МКУ «Управление образования»")
    assert campaign.deadline == dt.datetime(2023, 10, 20, 23, 59, tzinfo=MOSCOW)
    assert campaign.timezone == "Europe/Moscow"
    audiences = {step.id: step.audience for step in campaign.steps}
    assert audiences == {
        **{f"2.{n}": "staff" for n in range(1, 5)},
        **{f"3.{n}": "heads" for n in range(1, 6)},
    }
    kinds = {step.id: step.kind for step in campaign.steps}
    assert [i for i, kind in kinds.items() if kind is StepKind.COUNT] == ["3.2"]
    count = campaign.step("3.2")
    assert count is not None
    assert [(p.key, p.title) for p in count.parts] == [
        ("teachers", "педагоги"),
        ("pupils", "ученики"),
    ]
    assert {"учителя", "детей", "обучающиеся"} <= {n for p in count.parts for n in p.names()}
    assert_nothing_invented(ORDERS / "order_47.txt", draft)


def test_the_seed_order_s_department_items_are_left_out_with_a_note() -> None:
    draft, _, campaign = draft_of(ORDERS / "order_47.txt")
    text = write_draft(draft, source="order_47.txt")

    assert not any(step.id.startswith(("1", "4")) for step in campaign.steps)
    assert [entry.id for entry in draft.left_out] == ["1", "4.1", "4.2", "4"]
    assert any("4.1 не включён" in note and "Отделу" in note for note in draft.notes)
    comments = [line for line in text.splitlines() if line.startswith("# 4.1 (Отделу")]
    assert len(comments) == 1
    assert "организовать мониторинг" in comments[0]


def test_the_seed_order_s_items_read_as_the_hand_made_default_campaign_has_them() -> None:
    _, _, campaign = draft_of(ORDERS / "order_47.txt")
    default = load_campaign(default_campaign_path())

    shared = [step.id for step in default.steps if campaign.step(step.id) is not None]
    assert len(shared) >= 5
    for step_id in shared:
        drafted, made = campaign.step(step_id), default.step(step_id)
        assert drafted is not None
        assert made is not None
        assert (drafted.title, drafted.kind, drafted.audience) == (
            made.title,
            made.kind,
            made.audience,
        )
        assert [p.key for p in drafted.parts] == [p.key for p in made.parts]


def test_the_seed_order_s_titles_are_the_order_s_and_short_titles_are_short() -> None:
    draft, _, campaign = draft_of(ORDERS / "order_47.txt")
    order = (ORDERS / "order_47.txt").read_text(encoding="utf-8")

    step = campaign.step("3.1")
    assert step is not None
    assert step.title.startswith("сформировать структуру классов (групп, отделов)")
    for step in campaign.steps:
        assert len(step.short_title) <= 60
        assert step.short_title[0].isupper()
    # The one change to the order's words: the messenger as the bot spells it (bot/TEXTS.md).
    assert "ВКМессенджер" in order
    assert not any("ВКМессенджер" in s.title for s in draft.steps)
    assert any("VK Мессенджер" in note for note in draft.notes)


# --- other layouts ------------------------------------------------------------------------------


def test_items_numbered_with_a_dot_or_a_bracket_with_a_deadline_each() -> None:
    path = ORDERS / "order_52.txt"
    draft, problems, campaign = draft_of(path)

    assert (campaign.number, campaign.id, campaign.date) == (
        "52-п",
        "order_52_p",
        dt.date(2023, 11, 1),
    )
    assert campaign.title == "Об организации мониторинга подключения к Сферуму"
    assert [(s.id, s.audience) for s in campaign.steps] == [
        ("1.1", "heads"),
        ("1.2", "heads"),
        ("1.3", "heads"),
        ("2.1", "staff"),
    ]
    # The latest of the items' own dates is the campaign's; each item's own is kept beside it.
    own = {s.id: s.deadline.isoformat() for s in draft.steps if s.deadline is not None}
    assert own == {
        "1.1": "2023-11-10T23:59:00",
        "1.2": "2023-11-25T23:59:00",
        "1.3": "2023-11-17T23:59:00",
        "2.1": "2023-11-30T23:59:00",
    }
    assert campaign.deadline == dt.datetime(2023, 11, 30, 23, 59, tzinfo=MOSCOW)
    text = write_draft(draft, source=path.name)
    assert '# срок пункта в приказе: 25.11.2023 23:59\n[[steps]]\nid = "1.2"' in text
    assert any("разные сроки" in note for note in draft.notes)
    # «не менее 90 % педагогов и обучающихся»: a count of people, continued on the next line.
    step = campaign.step("1.2")
    assert step is not None
    assert step.kind is StepKind.COUNT
    assert [p.key for p in step.parts] == ["teachers", "pupils"]
    assert step.title.endswith("5–11 классов в срок до 25.11.2023 г.")
    # Item 3 is the department's; «4.1.» has no item 4 to stand under; 5 is not an item.
    assert [e.id for e in draft.left_out] == ["3", "5"]
    assert problems == [
        "похоже на пункт, но не понятно, к какому пункту и кому он относится: "
        "4.1. подготовить справку для главы городского округа."
    ]
    assert_nothing_invented(path, draft)


def test_lettered_items_and_an_item_on_its_addressee_s_line() -> None:
    path = ORDERS / "order_61.txt"
    draft, problems, campaign = draft_of(path)

    assert problems == []
    assert (campaign.number, campaign.date) == ("61", dt.date(2023, 12, 5))
    assert campaign.title == "О переходе школ на VK Мессенджер"
    assert campaign.issuer == "Управление образования администрации МР «Примерный район»"
    assert [(s.id, s.audience, s.kind) for s in campaign.steps] == [
        ("1.1", "heads", StepKind.COUNT),
        ("1.2", "heads", StepKind.CONFIRM),
        ("1.3", "heads", StepKind.CONFIRM),
        ("2", "staff", StepKind.CONFIRM),
    ]
    assert [s.numbered_as for s in draft.steps] == ["а)", "б)", "в)", ""]
    parents = campaign.steps[0].parts
    assert [p.key for p in parents] == ["parents"]
    assert campaign.steps[3].title == (
        "провести совещание с директорами школ о переходе на VK Мессенджер"
    )
    # «до 15 декабря 2023 года» for item 1, «до 20.12.2023 12:00» for item 2.
    first = draft.steps[0].deadline
    assert first is not None
    assert first.isoformat() == "2023-12-15T23:59:00"
    assert campaign.deadline == dt.datetime(2023, 12, 20, 12, 0, tzinfo=MOSCOW)
    assert [e.id for e in draft.left_out] == ["3"]
    assert any("1.1 (а))" in note for note in draft.notes)
    assert_nothing_invented(path, draft)


def write_table_order(path: Path) -> Path:
    document = docx.Document()
    for line in (
        "МБУ «ЦЕНТР ОБРАЗОВАНИЯ» ГОРОДСКОГО ОКРУГА",
        "",
        "ПРИКАЗ",
        "12.02.2024 № 15",
        "О плане перехода на Сферум",
        "",
        "ПРИКАЗЫВАЮ:",
        "1. Утвердить план мероприятий (таблица).",
    ):
        document.add_paragraph(line)
    table = document.add_table(rows=0, cols=4)
    for cells in (
        ("№ п/п", "Мероприятие", "Срок", "Ответственный"),
        ("1.1", "провести собрания родителей о Сферуме", "до 01.03.2024", "Руководители ОО"),
        (
            "1.2",
            "обеспечить подключение 100% педагогических работников к VK Messenger",
            "15.03.2024",
            "Руководители ОО",
        ),
        ("1.3", "обобщить сведения о подключении", "20.03.2024", "Отдел мониторинга"),
        ("1.4", "пройти обучение работе в Сферуме", "10.03.2024", "Сотрудники Управления"),
    ):
        row = table.add_row()
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.add_paragraph("Начальник  А.А. Петров")
    document.save(str(path))
    return path


def test_a_docx_with_its_items_in_a_table(tmp_path: Path) -> None:
    path = write_table_order(tmp_path / "order_15.docx")
    draft, problems, campaign = draft_of(path)

    assert problems == []
    assert (campaign.id, campaign.number, campaign.date) == (
        "order_15",
        "15",
        dt.date(2024, 2, 12),
    )
    assert campaign.title == "О плане перехода на Сферум"
    assert [(s.id, s.audience, s.kind) for s in campaign.steps] == [
        ("1.1", "heads", StepKind.CONFIRM),
        ("1.2", "heads", StepKind.COUNT),
        ("1.4", "staff", StepKind.CONFIRM),
    ]
    assert campaign.steps[1].title == (
        "обеспечить подключение 100\u00a0% педагогических работников к VK Мессенджер"
    )
    assert [p.key for p in campaign.steps[1].parts] == ["teachers"]
    # 1.3 (20.03) is the department's: the latest date of the items kept is 15.03.
    assert [e.id for e in draft.left_out] == ["1.3"]
    assert campaign.deadline == dt.datetime(2024, 3, 15, 23, 59, tzinfo=MOSCOW)
    assert_nothing_invented(path, draft)


def numbered_list(document: docx.document.Document) -> str:
    """A list «1.», «1.1.», «а)» in the document's numbering, as Word writes one; its numId."""
    numbering = document.part.numbering_part.element
    levels = "".join(
        f'<w:lvl w:ilvl="{level}"><w:start w:val="1"/><w:numFmt w:val="{form}"/>'
        f'<w:lvlText w:val="{text}"/></w:lvl>'
        for level, form, text in (
            (0, "decimal", "%1."),
            (1, "decimal", "%1.%2."),
            (2, "russianLower", "%3)"),
        )
    )
    namespace = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    numbering.insert(
        0, parse_xml(f'<w:abstractNum {namespace} w:abstractNumId="90">{levels}</w:abstractNum>')
    )
    numbering.append(
        parse_xml(f'<w:num {namespace} w:numId="90"><w:abstractNumId w:val="90"/></w:num>')
    )
    return "90"


def add_item(document: docx.document.Document, num_id: str, level: int, text: str) -> None:
    paragraph = document.add_paragraph(text)
    num_pr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
    num_pr.get_or_add_ilvl().val = level
    num_pr.get_or_add_numId().val = int(num_id)


def test_a_docx_numbered_by_word_itself(tmp_path: Path) -> None:
    """Word draws «1.», «1.1.», «а)» of a list itself: the numbers are not in the text."""
    document = docx.Document()
    for line in ("МКУ «УПРАВЛЕНИЕ ОБРАЗОВАНИЯ»", "", "ПРИКАЗ", "№ 9 от 01.03.2024", "О Сферуме"):
        document.add_paragraph(line)
    document.add_paragraph("ПРИКАЗЫВАЮ:")
    num_id = numbered_list(document)
    add_item(document, num_id, 0, "Руководителям общеобразовательных организаций до 15.03.2024:")
    add_item(document, num_id, 1, "создать беседы классов в Сферуме;")
    add_item(document, num_id, 1, "провести родительские собрания:")
    add_item(document, num_id, 2, "в 1-х классах;")
    add_item(document, num_id, 0, "Сотрудникам Управления образования до 10.03.2024:")
    add_item(document, num_id, 1, "пройти регистрацию в Сферуме.")
    path = tmp_path / "order_9.docx"
    document.save(str(path))

    blocks = read_blocks(path)
    assert "2.1. пройти регистрацию в Сферуме." in blocks
    assert "а) в 1-х классах;" in blocks
    draft, problems, campaign = draft_of(path)
    assert problems == []
    assert [(s.id, s.audience) for s in campaign.steps] == [
        ("1.1", "heads"),
        ("1.2", "heads"),
        ("2.1", "staff"),
    ]
    # «а)» under 1.2 is part of 1.2's words: a level below the steps is not a step of its own.
    assert campaign.steps[1].title == "провести родительские собрания: а) в 1-х классах"
    assert campaign.deadline == dt.datetime(2024, 3, 15, 23, 59, tzinfo=MOSCOW)
    assert_nothing_invented(path, draft)


def test_the_order_s_own_line_of_date_and_number_wins_over_an_address() -> None:
    draft, problems = draft_order(
        [
            "КОМИТЕТ ОБРАЗОВАНИЯ",
            "ул. Ленина, 5, каб. № 3",
            "ПРИКАЗ",
            "от 02.02.2024 № 12",
            "О сменной обуви",
            "1. Руководителям общеобразовательных организаций до 01.03.2024 обеспечить "
            "наличие сменной обуви",
        ]
    )
    assert (draft.number, draft.date) == ("12", dt.date(2024, 2, 2))
    assert [(s.id, s.title) for s in draft.steps] == [("1", "обеспечить наличие сменной обуви")]
    # No «ПРИКАЗЫВАЮ:»: the items are looked for in the whole text, and that is said.
    assert problems == ["нет строки «ПРИКАЗЫВАЮ:» — пункты искались во всём тексте"]


# --- what it does not read ----------------------------------------------------------------------


def test_missing_number_date_and_deadline_are_said_and_not_made_up() -> None:
    draft, problems = draft_order(
        [
            "ПРИКАЗЫВАЮ:",
            "1. Руководителям общеобразовательных организаций:",
            "1.1 назначить ответственного",
        ]
    )

    assert [s.id for s in draft.steps] == ["1.1"]
    assert (draft.number, draft.date, draft.title, draft.deadline) == (None, None, None, None)
    assert any("номер приказа" in p for p in problems)
    assert any("дата приказа" in p for p in problems)
    assert any("срок исполнения" in p for p in problems)
    text = write_draft(draft, source="x.txt")
    assert "\nnumber =" not in text
    assert "# number = …" in text
    with pytest.raises(Exception, match="number"):
        parse_campaign(tomllib.loads(text))


def test_a_short_title_never_names_a_state() -> None:
    draft, _ = draft_order(
        [
            "ПРИКАЗ",
            "О готовности",
            "ПРИКАЗЫВАЮ:",
            "1. Руководителям общеобразовательных организаций в срок до 01.09.2024:",
            "1.1 подтвердить, что компьютеры готовы к работе",
            "1.2 выполнено",
        ]
    )
    shorts = {s.id: s.short_title for s in draft.steps}
    assert shorts["1.1"] == "Подтвердить, что компьютеры"
    assert shorts["1.2"] == "Пункт 1.2"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "ПРИКАЗЫВАЮ:",
                    "1. Руководителям общеобразовательных организаций в срок до 20.10.2023г:",
                    "2. Сотрудникам Управления образования:",
                    "3. Отделу кадров:",
                    "- 1.1 обеспечить подключение 100% педагогов к Сферуму;",
                    "а) создать беседы;",
                    "2.1) пройти регистрацию",
                    "",
                ]
            ),
            st.text(max_size=40),
        ),
        max_size=12,
    )
)
def test_any_text_gives_a_draft_whose_titles_are_in_it(lines: list[str]) -> None:
    draft, _ = draft_order(lines)
    # The reader takes control characters for spaces, as it takes «**» (Markdown) for nothing.
    text = re.sub(r"\*\*|[\x00-\x1f\x7f]", " ", " ".join(lines))
    words = " ".join(spell_products(text).split())
    for step in draft.steps:
        assert step.title in words
    tomllib.loads(write_draft(draft, source="x.txt"))


def test_a_file_that_is_not_an_order_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(OrderReadError, match=r"\.txt или \.docx"):
        read_blocks(tmp_path / "order.pdf")
    with pytest.raises(OrderReadError, match="нет файла"):
        read_blocks(tmp_path / "missing.txt")
    fake = tmp_path / "order.docx"
    fake.write_bytes(b"not a zip at all")
    with pytest.raises(OrderReadError, match="не читается как документ Word"):
        read_blocks(fake)


# --- the command line ---------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_drafts_the_seed_order_and_the_file_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "order.toml"
    code, out, err = run(capsys, "campaign", "draft", ORDERS / "order_47.txt", "-o", out_file)

    assert (code, err) == (0, "")
    assert "пунктов 9 (руководителям 5, сотрудникам 4)" in out
    assert "пункт 4.1 не включён" in out
    assert "файл кампании в порядке" in out
    campaign = load_campaign(out_file)
    assert [s.id for s in campaign.steps][-5:] == ["3.1", "3.2", "3.3", "3.4", "3.5"]


def test_cli_never_overwrites_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "order.toml"
    out_file.write_text("# my edits\n", encoding="utf-8")

    code, _, err = run(capsys, "campaign", "draft", ORDERS / "order_61.txt", "-o", out_file)
    assert code == 1
    assert "уже есть" in err
    assert "--force" in err
    assert out_file.read_text(encoding="utf-8") == "# my edits\n"

    code, out, _ = run(
        capsys, "campaign", "draft", ORDERS / "order_61.txt", "-o", out_file, "--force"
    )
    assert code == 0
    assert load_campaign(out_file).number == "61"
    assert "даны номера, которые пишут в ответах" in out


def test_cli_reads_a_docx_and_a_windows_1251_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    order = write_table_order(tmp_path / "order.docx")
    code, out, _ = run(capsys, "campaign", "draft", order, "-o", tmp_path / "a.toml")
    assert code == 0
    assert "пунктов 3 (руководителям 2, сотрудникам 1)" in out

    text = (ORDERS / "order_52.txt").read_text(encoding="utf-8")
    legacy = tmp_path / "order_52.txt"
    legacy.write_bytes(text.replace("\n", "\r\n").encode("cp1251"))
    code, out, _ = run(capsys, "campaign", "draft", legacy, "-o", tmp_path / "b.toml")
    assert code == 0
    assert "что не удалось прочитать" in out
    assert "4.1. подготовить справку" in out
    assert load_campaign(tmp_path / "b.toml").number == "52-п"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("order.pdf", b"%PDF-1.4", "приказ читается из файла .txt или .docx"),
        ("missing.txt", None, "нет файла"),
        ("order.docx", b"PK not really", "не читается как документ Word .docx"),
        ("order.txt", b"\x00\x01\x02", "не текстовый файл"),
        ("order.txt", "Просто письмо без пунктов.".encode(), "не найдено ни одного пункта"),
    ],
)
def test_cli_errors_are_russian_and_nothing_is_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes | None,
    message: str,
) -> None:
    order = tmp_path / name
    if content is not None:
        order.write_bytes(content)
    out_file = tmp_path / "draft.toml"
    code, _, err = run(capsys, "campaign", "draft", order, "-o", out_file)

    assert code == 1
    assert err.startswith("ошибка: ")
    assert message in err
    assert not out_file.exists()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_cli_says_what_the_draft_still_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    order = tmp_path / "order.txt"
    order.write_text(
        "ПРИКАЗЫВАЮ:\n1. Руководителям общеобразовательных организаций:\n"
        "1.1 назначить ответственного\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "campaign", "draft", order, "-o", tmp_path / "d.toml")

    assert code == 1
    assert "не найден номер приказа" in out
    assert "пока файл кампании не принимается" in out
    assert (tmp_path / "d.toml").is_file()


def test_cli_bad_timezone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "campaign",
        "draft",
        ORDERS / "order_47.txt",
        "-o",
        tmp_path / "x.toml",
        "--timezone",
        "Mars/Olympus",
    )
    assert code == 2
    assert "неизвестный часовой пояс" in err
    assert re.search(r"--timezone", err)
