"""Roster files (CSV and .xlsx) as Excel and people write them, and every way they go wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain import Person, Role, School
from bot.roster import (
    Roster,
    RosterError,
    RosterProblem,
    collisions_with,
    parse_role,
    parse_roster,
    parse_vk_id,
    read_roster,
    school_key,
)

HEADER = "school_id,school_name,vk_id,full_name,role\n"


def roster(text: str) -> Roster:
    return parse_roster(text.encode("utf-8"))


def problems(data: str | bytes) -> list[RosterProblem]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with pytest.raises(RosterError) as caught:
        parse_roster(raw)
    return list(caught.value.problems)


def only_problem(data: str | bytes) -> RosterProblem:
    found = problems(data)
    assert len(found) == 1, found
    return found[0]


def test_plain_roster() -> None:
    result = roster(
        HEADER
        + "1,СОШ №1,123,Иванов Иван Иванович,head\n"
        + "1,СОШ №1,id124,Петрова Анна,deputy\n"
        + "2,Гимназия,https://vk.com/id125,Сидоров С.С.,head\n"
    )
    assert result.schools == (School(id="1", name="СОШ №1"), School(id="2", name="Гимназия"))
    assert result.people == (
        Person(person_id=123, school_id="1", full_name="Иванов Иван Иванович", role=Role.HEAD),
        Person(person_id=124, school_id="1", full_name="Петрова Анна", role=Role.DEPUTY),
        Person(person_id=125, school_id="2", full_name="Сидоров С.С.", role=Role.HEAD),
    )
    assert [p.person_id for p in result.people_of("1")] == [123, 124]


def test_excel_file_with_bom_semicolons_crlf_and_quotes() -> None:
    text = (
        "School_ID ; School_Name ;VK_ID;Full_Name;Role\r\n"
        '7;"МКОУ ""Аксайская СОШ"", с. Аксай";id701;"Алиев; Али";head\r\n'
        '7;"МКОУ ""Аксайская СОШ"", с. Аксай";702;Магомедова  Патимат ;зам\r\n'
    )
    result = parse_roster(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert result.schools == (School(id="7", name='МКОУ "Аксайская СОШ", с. Аксай'),)
    assert [(p.person_id, p.full_name, p.role) for p in result.people] == [
        (701, "Алиев; Али", Role.HEAD),
        (702, "Магомедова Патимат", Role.DEPUTY),
    ]


def test_comma_file_with_quoted_commas_and_crlf() -> None:
    text = HEADER.replace("\n", "\r\n") + '3,"СОШ №3, с. Ботаюрт",301,"Ахмедов, Ахмед",head\r\n'
    result = roster(text)
    assert result.schools[0].name == "СОШ №3, с. Ботаюрт"
    assert result.people[0].full_name == "Ахмедов, Ахмед"


def test_columns_in_any_order_and_extra_columns_named() -> None:
    text = (
        "role,full_name,vk_id,school_name,school_id,note, Телефон \n"
        "head,Иванов,5,СОШ,9,любой текст,+7 900\n"
    )
    result = roster(text)
    assert result.people == (
        Person(person_id=5, school_id="9", full_name="Иванов", role=Role.HEAD),
    )
    assert result.schools == (School(id="9", name="СОШ"),)
    # Read past, but named, so that the import can say they were not loaded.
    assert result.ignored_columns == ("note", "Телефон")
    assert roster(HEADER + "1,A,5,B,head\n").ignored_columns == ()


def test_excel_sep_line() -> None:
    result = roster("sep=;\n" + HEADER.replace(",", ";") + "1;A;5;B;head\n")
    assert result.people[0].person_id == 5
    found = problems("sep=;\n" + HEADER.replace(",", ";") + "1;A;x;B;head\n")
    assert found[0].line == 3


def test_blank_lines_are_skipped_and_line_numbers_kept() -> None:
    found = problems(HEADER + "\n1,A,5,B,head\n,,,,\n\n1,A,bad,B,head\n")
    assert [p.line for p in found] == [6]


def test_quoted_newline_keeps_line_numbers() -> None:
    found = problems(HEADER + '1,"A\nB",5,C,head\n1,"A\nB",x,C,head\n')
    assert [p.line for p in found] == [4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", 123),
        (" id123 ", 123),
        ("ID123", 123),
        ("https://vk.com/id123", 123),
        ("http://vk.com/id123", 123),
        ("vk.com/id123", 123),
        ("https://m.vk.com/id123", 123),
        ("https://vk.com/id123/", 123),
        ("https://vk.ru/id123", 123),
        ("www.vk.com/id123", 123),
        ("abc", None),
        ("0", None),
        ("-5", None),
        ("id", None),
        ("vk.com/durov", None),
        ("https://example.com/id123", None),
        ("2000000001", None),
        ("1.23E+08", None),
        ("", None),
    ],
)
def test_parse_vk_id(text: str, expected: int | None) -> None:
    assert parse_vk_id(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("head", Role.HEAD),
        ("HEAD", Role.HEAD),
        ("deputy", Role.DEPUTY),
        ("Руководитель", Role.HEAD),
        ("директор", Role.HEAD),
        ("ДИРЕКТОР", Role.HEAD),
        ("Заведующая", Role.HEAD),
        ("заместитель", Role.DEPUTY),
        ("Зам", Role.DEPUTY),
        ("зам. директора по УВР", Role.DEPUTY),
        ("Заместитель директора", Role.DEPUTY),
        ("teacher", None),
        ("учитель", None),
    ],
)
def test_parse_role(text: str, expected: Role | None) -> None:
    assert parse_role(text) == expected


def test_bad_vk_id_message() -> None:
    problem = only_problem(HEADER + "1,A,5,B,head\n1,A,abc,C,head\n")
    expected = (
        "person_id «abc» — не id ВКонтакте; ожидается 123, id123, https://vk.com/id123 или "
        "короткий адрес https://vk.com/ivanov"
    )
    assert problem == RosterProblem(3, expected)
    assert str(problem) == f"строка 3: {expected}"


@pytest.mark.parametrize(
    ("person_id", "hint"),
    [
        ("https://vk.com/a b", "https://vk.com/ivanov"),
        ("1.23457E+08", "экспоненциальной"),
        ("2000000001", "беседы"),
    ],
)
def test_bad_vk_id_hints(person_id: str, hint: str) -> None:
    problem = only_problem(HEADER + f"1,A,{person_id},B,head\n")
    assert hint in problem.message


def test_bad_role() -> None:
    problem = only_problem(HEADER + "1,A,5,B,учитель\n")
    assert problem.line == 2
    assert problem.message.startswith("role «учитель» — не роль; ожидается head или deputy")


def test_empty_required_fields() -> None:
    found = problems(HEADER + ",A,5,B,head\n1,,5,B,head\n1,A,,B,head\n1,A,5,,head\n1,A,5,B,\n")
    assert [(p.line, p.message.split(";")[0]) for p in found] == [
        (2, "столбец school_id пуст"),
        (3, "столбец school_name пуст"),
        (4, "столбец person_id пуст"),
        (5, "столбец full_name пуст"),
        (6, "столбец role пуст"),
    ]


def test_exact_duplicate_row() -> None:
    problem = only_problem(HEADER + "1,A,5,B,head\n1,A,id5,B,руководитель\n")
    assert problem == RosterProblem(3, "повторяет строку 2")


def test_same_person_twice_for_a_school() -> None:
    problem = only_problem(HEADER + "1,A,5,Иванов,head\n1,A,5,Иванов И.,deputy\n")
    assert problem.line == 3
    assert problem.message.startswith("человек 5 уже указан для школы «1» в строке 2")


def test_same_person_in_two_schools_is_allowed() -> None:
    result = roster(HEADER + "1,A,5,Иванов,head\n2,B,5,Иванов,deputy\n")
    assert [(p.school_id, p.role) for p in result.people] == [
        ("1", Role.HEAD),
        ("2", Role.DEPUTY),
    ]


def test_school_named_differently() -> None:
    problem = only_problem(HEADER + "1,СОШ №1,5,B,head\n2,X,6,C,head\n1,СОШ № 1,7,D,deputy\n")
    assert problem.line == 4
    assert problem.message.startswith("школа «1» названа здесь «СОШ № 1», а в строке 2 — «СОШ №1»")


def test_school_without_people() -> None:
    result = roster(HEADER + "1,A,,,\n2,B,5,C,head\n1,A,6,D,deputy\n3,C\n")
    assert [s.id for s in result.schools] == ["1", "2", "3"]
    assert [p.person_id for p in result.people] == [5, 6]
    assert result.people_of("3") == ()


def test_half_filled_person_is_not_a_school_row() -> None:
    found = problems(HEADER + "1,A,,Иванов,\n")
    assert [p.message.split(";")[0] for p in found] == [
        "столбец person_id пуст",
        "столбец role пуст",
    ]


def test_empty_file() -> None:
    for data in (b"", b"\xef\xbb\xbf", b" \r\n\r\n"):
        problem = only_problem(data)
        assert problem.line == 1
        assert problem.message.startswith("файл пуст")


def test_header_only() -> None:
    problem = only_problem(HEADER + "\n;;;;\n".replace(";", ","))
    assert problem == RosterProblem(1, "после заголовка нет строк; ожидается строка на человека")


def test_missing_column() -> None:
    problem = only_problem("school_id;school_name;vk_id;full_name\n1;A;5;B\n")
    assert problem.line == 1
    assert problem.message.startswith("нет столбца role; ожидается заголовок")
    assert "school_id,school_name,vk_id,full_name,role" in problem.message


def test_not_a_header() -> None:
    problem = only_problem("1,A,5,B,head\n")
    assert problem.message.startswith("нет столбцов school_id, school_name, vk_id")


def test_repeated_column() -> None:
    problem = only_problem("school_id,school_name,vk_id,full_name,role,role\n1,A,5,B,head,x\n")
    assert problem.message == "столбец role встречается в заголовке 2 раза"


def test_too_many_fields() -> None:
    problem = only_problem(HEADER + "1,СОШ №1, с. Аксай,5,B,head\n")
    assert problem.line == 2
    assert "в строке 6 полей, а в заголовке 5" in problem.message
    assert "двойные кавычки" in problem.message


def test_trailing_empty_fields_are_fine() -> None:
    assert roster(HEADER + "1,A,5,B,head,,\n").people[0].person_id == 5


def test_non_utf8() -> None:
    data = (HEADER + "1,СОШ,5,Иванов,директор\n").encode("cp1251")
    problem = only_problem(data)
    assert problem.line == 2
    assert "не в кодировке UTF-8" in problem.message
    assert "CSV UTF-8" in problem.message
    assert ".xlsx" in problem.message


def test_utf16() -> None:
    problem = only_problem((HEADER + "1,A,5,B,head\n").encode("utf-16"))
    assert "UTF-16" in problem.message


def test_too_long_names() -> None:
    found = problems(
        HEADER + f"{'1' * 65},A,5,B,head\n2,{'Ш' * 301},6,C,head\n3,D,7,{'И' * 201},head\n"
    )
    assert [(p.line, p.message.split(":")[0]) for p in found] == [
        (2, "school_id"),
        (3, "school_name"),
        (4, "full_name"),
    ]
    assert "не больше 200" in found[2].message


def test_all_problems_are_collected() -> None:
    text = HEADER + "1,A,x,B,head\n2,B,6,C,boss\n3,C,7,D,head\n3,C,7,D,head\n"
    with pytest.raises(RosterError) as caught:
        roster(text)
    assert [p.line for p in caught.value.problems] == [2, 3, 5]
    message = str(caught.value)
    assert message.startswith("список не загружен, ошибок: 3")
    assert "строка 2: person_id «x»" in message
    assert caught.value.lines()[2] == "строка 5: повторяет строку 4"


def test_read_roster(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes((HEADER + "1,A,5,B,head\n").encode("utf-8-sig"))
    assert read_roster(path).people[0].person_id == 5
    with pytest.raises(RosterError, match="не найден"):
        read_roster(tmp_path / "missing.csv")


def test_screen_names_are_kept_for_the_bot_to_resolve() -> None:
    roster = parse_roster(
        "school_id,school_name,vk_id,full_name,role\n"
        "1,СОШ №1,https://vk.com/ivanov_ii,Иванов И.И.,head\n"
        "1,СОШ №1,@petrova.a,Петрова А.А.,deputy\n"
        "1,СОШ №1,id55,Сидоров,deputy\n".encode()
    )
    assert [p.person_id for p in roster.people] == [55]
    assert [(u.screen_name, u.role.value, u.line) for u in roster.unresolved] == [
        ("ivanov_ii", "head", 2),
        ("petrova.a", "deputy", 3),
    ]


# --- Excel workbooks ---------------------------------------------------------------------------


def workbook(rows: list[list[object]], path: Path, *, sheets: int = 1) -> Path:
    """An .xlsx as Excel saves it: numbers as numbers, the roster on the first sheet."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Школы"
    for row in rows:
        sheet.append(row)
    for n in range(1, sheets):
        book.create_sheet(f"Лист{n + 1}").append(["что-то другое"])
    book.save(path)
    return path


def test_an_xlsx_workbook_is_read_directly(tmp_path: Path) -> None:
    path = workbook(
        [
            ["school_id", "school_name", "vk_id", "full_name", "role", "Примечание"],
            [1, "МКОУ «СОШ №1»", 123456789, "Иванов Иван", "директор", "звонить после 14"],
            [None, None, None, None, None, None],  # a blank row keeps the numbering
            ["002", "МКОУ «СОШ №2»", "https://vk.com/id125", "Петрова Анна", "head", None],
            [3.0, "МКОУ «СОШ №3»", "vk.com/sidorov_s", "Сидоров Сидор", "зам", None],
        ],
        tmp_path / "roster.xlsx",
        sheets=2,
    )
    result = read_roster(path)
    # 3.0 is the number Excel keeps for a cell showing 3; "002" was typed as text.
    assert [s.id for s in result.schools] == ["1", "002", "3"]
    assert [(p.person_id, p.school_id, p.role) for p in result.people] == [
        (123456789, "1", Role.HEAD),
        (125, "002", Role.HEAD),
    ]
    assert [(u.screen_name, u.school_id, u.line) for u in result.unresolved] == [
        ("sidorov_s", "3", 5)
    ]
    assert result.ignored_columns == ("Примечание",)
    assert result.school_lines == {"1": 2, "002": 4, "3": 5}


def test_the_parse_of_a_workbook_and_of_its_csv_agree(tmp_path: Path) -> None:
    rows = [
        ["school_id", "school_name", "vk_id", "full_name", "role"],
        ["s1", "СОШ №1", 123, "Иванов Иван", "head"],
        ["s1", "СОШ №1", "id124", "Петрова Анна", "deputy"],
        ["s2", "СОШ №2", None, None, None],
    ]
    from_xlsx = read_roster(workbook(rows, tmp_path / "r.xlsx"))
    text = "\n".join(",".join("" if c is None else str(c) for c in row) for row in rows)
    assert from_xlsx.model_dump() == roster(text + "\n").model_dump()


def test_problems_of_a_workbook_name_its_rows(tmp_path: Path) -> None:
    path = workbook(
        [
            ["Список руководителей"],  # a title row above the header is not a header
        ],
        tmp_path / "title.xlsx",
    )
    assert "нет столбцов" in only_problem(path.read_bytes()).message
    path = workbook(
        [
            ["school_id", "school_name", "vk_id", "full_name", "role"],
            [1, "СОШ №1", 1.23457e22, "Иванов", "head"],
            [1, "СОШ №1", 7, "Петров", "учитель"],
        ],
        tmp_path / "bad.xlsx",
    )
    found = problems(path.read_bytes())
    assert [p.line for p in found] == [2, 3]
    assert "учитель" in found[1].message


def test_a_broken_or_old_workbook_is_refused_in_words(tmp_path: Path) -> None:
    assert "не открывается" in only_problem(b"PK\x03\x04 not really a zip").message
    old = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100
    message = only_problem(old).message
    assert ".xls" in message
    assert "Книга Excel (.xlsx)" in message


# --- one school written two ways ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "same"),
    [
        (("001", "1"), True),
        (("01", "001"), True),
        (("010", "10"), True),
        (("С1", "с1"), True),
        (("s1", " S1 "), True),
        (("1", "10"), False),
        (("1а", "1б"), False),
        (("001", "1.0"), False),
    ],
)
def test_school_key(ids: tuple[str, str], same: bool) -> None:
    assert (school_key(ids[0]) == school_key(ids[1])) is same


def test_a_school_id_written_two_ways_in_one_file_is_refused_naming_both_rows() -> None:
    problem = only_problem(
        HEADER + "001,СОШ №1,5,Иванов,head\n002,СОШ №2,6,Петров,head\n1,СОШ №1,7,Сидоров,deputy\n"
    )
    assert problem.line == 4
    assert "«1»" in problem.message
    assert "«001» из строки 2" in problem.message
    assert "Текстовый" in problem.message


def test_a_school_id_that_lost_its_zeros_since_the_last_import_is_flagged() -> None:
    result = roster(HEADER + "1,СОШ №1,5,Иванов,head\n002,СОШ №2,6,Петров,head\n")
    found = collisions_with(result, ["001", "002", "003"])
    assert [(p.line, "«1»" in p.message, "«001»" in p.message) for p in found] == [(2, True, True)]
    assert "в базе" in found[0].message
    assert collisions_with(result, ["1", "002"]) == []
    assert collisions_with(result, []) == []
