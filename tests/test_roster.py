"""Roster CSV files as Excel and people write them, and every way they go wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain import Person, Role, School
from bot.roster import (
    Roster,
    RosterError,
    RosterProblem,
    parse_role,
    parse_roster,
    parse_vk_id,
    read_roster,
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
        Person(vk_id=123, school_id="1", full_name="Иванов Иван Иванович", role=Role.HEAD),
        Person(vk_id=124, school_id="1", full_name="Петрова Анна", role=Role.DEPUTY),
        Person(vk_id=125, school_id="2", full_name="Сидоров С.С.", role=Role.HEAD),
    )
    assert [p.vk_id for p in result.people_of("1")] == [123, 124]


def test_excel_file_with_bom_semicolons_crlf_and_quotes() -> None:
    text = (
        "School_ID ; School_Name ;VK_ID;Full_Name;Role\r\n"
        '7;"МКОУ ""Аксайская СОШ"", с. Аксай";id701;"Алиев; Али";head\r\n'
        '7;"МКОУ ""Аксайская СОШ"", с. Аксай";702;Магомедова  Патимат ;зам\r\n'
    )
    result = parse_roster(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert result.schools == (School(id="7", name='МКОУ "Аксайская СОШ", с. Аксай'),)
    assert [(p.vk_id, p.full_name, p.role) for p in result.people] == [
        (701, "Алиев; Али", Role.HEAD),
        (702, "Магомедова Патимат", Role.DEPUTY),
    ]


def test_comma_file_with_quoted_commas_and_crlf() -> None:
    text = HEADER.replace("\n", "\r\n") + '3,"СОШ №3, с. Ботаюрт",301,"Ахмедов, Ахмед",head\r\n'
    result = roster(text)
    assert result.schools[0].name == "СОШ №3, с. Ботаюрт"
    assert result.people[0].full_name == "Ахмедов, Ахмед"


def test_columns_in_any_order_and_extra_columns_ignored() -> None:
    text = "role,full_name,vk_id,school_name,school_id,note\nhead,Иванов,5,СОШ,9,любой текст\n"
    result = roster(text)
    assert result.people == (Person(vk_id=5, school_id="9", full_name="Иванов", role=Role.HEAD),)
    assert result.schools == (School(id="9", name="СОШ"),)


def test_excel_sep_line() -> None:
    result = roster("sep=;\n" + HEADER.replace(",", ";") + "1;A;5;B;head\n")
    assert result.people[0].vk_id == 5
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
    assert problem == RosterProblem(
        3, "vk_id 'abc' is not a VK id; expected 123, id123 or https://vk.com/id123"
    )
    assert str(problem) == (
        "line 3: vk_id 'abc' is not a VK id; expected 123, id123 or https://vk.com/id123"
    )


@pytest.mark.parametrize(
    ("vk_id", "hint"),
    [
        ("https://vk.com/a b", "VK id"),
        ("1.23457E+08", "E-notation"),
        ("2000000001", "chats"),
    ],
)
def test_bad_vk_id_hints(vk_id: str, hint: str) -> None:
    problem = only_problem(HEADER + f"1,A,{vk_id},B,head\n")
    assert hint in problem.message


def test_bad_role() -> None:
    problem = only_problem(HEADER + "1,A,5,B,учитель\n")
    assert problem.line == 2
    assert problem.message.startswith("role 'учитель' is not a role; expected head or deputy")


def test_empty_required_fields() -> None:
    found = problems(HEADER + ",A,5,B,head\n1,,5,B,head\n1,A,,B,head\n1,A,5,,head\n1,A,5,B,\n")
    assert [(p.line, p.message.split(";")[0]) for p in found] == [
        (2, "school_id is empty"),
        (3, "school_name is empty"),
        (4, "vk_id is empty"),
        (5, "full_name is empty"),
        (6, "role is empty"),
    ]


def test_exact_duplicate_row() -> None:
    problem = only_problem(HEADER + "1,A,5,B,head\n1,A,id5,B,руководитель\n")
    assert problem == RosterProblem(3, "repeats line 2")


def test_same_person_twice_for_a_school() -> None:
    problem = only_problem(HEADER + "1,A,5,Иванов,head\n1,A,5,Иванов И.,deputy\n")
    assert problem.line == 3
    assert problem.message.startswith("person 5 is already listed for school '1' on line 2")


def test_same_person_in_two_schools_is_allowed() -> None:
    result = roster(HEADER + "1,A,5,Иванов,head\n2,B,5,Иванов,deputy\n")
    assert [(p.school_id, p.role) for p in result.people] == [
        ("1", Role.HEAD),
        ("2", Role.DEPUTY),
    ]


def test_school_named_differently() -> None:
    problem = only_problem(HEADER + "1,СОШ №1,5,B,head\n2,X,6,C,head\n1,СОШ № 1,7,D,deputy\n")
    assert problem.line == 4
    assert problem.message.startswith("school '1' is named 'СОШ № 1' here but 'СОШ №1' on line 2")


def test_school_without_people() -> None:
    result = roster(HEADER + "1,A,,,\n2,B,5,C,head\n1,A,6,D,deputy\n3,C\n")
    assert [s.id for s in result.schools] == ["1", "2", "3"]
    assert [p.vk_id for p in result.people] == [5, 6]
    assert result.people_of("3") == ()


def test_half_filled_person_is_not_a_school_row() -> None:
    found = problems(HEADER + "1,A,,Иванов,\n")
    assert [p.message.split(";")[0] for p in found] == ["vk_id is empty", "role is empty"]


def test_empty_file() -> None:
    for data in (b"", b"\xef\xbb\xbf", b" \r\n\r\n"):
        problem = only_problem(data)
        assert problem.line == 1
        assert problem.message.startswith("the file is empty")


def test_header_only() -> None:
    problem = only_problem(HEADER + "\n;;;;\n".replace(";", ","))
    assert problem == RosterProblem(1, "no rows after the header; expected one row per person")


def test_missing_column() -> None:
    problem = only_problem("school_id;school_name;vk_id;full_name\n1;A;5;B\n")
    assert problem.line == 1
    assert problem.message.startswith("missing column role; expected the header")
    assert "school_id,school_name,vk_id,full_name,role" in problem.message


def test_not_a_header() -> None:
    problem = only_problem("1,A,5,B,head\n")
    assert problem.message.startswith("missing columns school_id, school_name, vk_id")


def test_repeated_column() -> None:
    problem = only_problem("school_id,school_name,vk_id,full_name,role,role\n1,A,5,B,head,x\n")
    assert problem.message == "the column role appears 2 times"


def test_too_many_fields() -> None:
    problem = only_problem(HEADER + "1,СОШ №1, с. Аксай,5,B,head\n")
    assert problem.line == 2
    assert "6 fields but the header has 5" in problem.message
    assert "double quotes" in problem.message


def test_trailing_empty_fields_are_fine() -> None:
    assert roster(HEADER + "1,A,5,B,head,,\n").people[0].vk_id == 5


def test_non_utf8() -> None:
    data = (HEADER + "1,СОШ,5,Иванов,директор\n").encode("cp1251")
    problem = only_problem(data)
    assert problem.line == 2
    assert "not UTF-8" in problem.message
    assert "CSV UTF-8" in problem.message


def test_utf16() -> None:
    problem = only_problem((HEADER + "1,A,5,B,head\n").encode("utf-16"))
    assert "UTF-16" in problem.message


def test_too_long_names() -> None:
    found = problems(
        HEADER + f"{'1' * 65},A,5,B,head\n2,{'Ш' * 301},6,C,head\n3,D,7,{'И' * 201},head\n"
    )
    assert [(p.line, p.message.split(" is ")[0]) for p in found] == [
        (2, "school_id"),
        (3, "school_name"),
        (4, "full_name"),
    ]
    assert "at most 200" in found[2].message


def test_all_problems_are_collected() -> None:
    text = HEADER + "1,A,x,B,head\n2,B,6,C,boss\n3,C,7,D,head\n3,C,7,D,head\n"
    with pytest.raises(RosterError) as caught:
        roster(text)
    assert [p.line for p in caught.value.problems] == [2, 3, 5]
    message = str(caught.value)
    assert message.startswith("roster rejected, 3 problems:")
    assert "line 2: vk_id 'x'" in message
    assert caught.value.lines()[2] == "line 5: repeats line 4"


def test_read_roster(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes((HEADER + "1,A,5,B,head\n").encode("utf-8-sig"))
    assert read_roster(path).people[0].vk_id == 5
    with pytest.raises(RosterError, match="not found"):
        read_roster(tmp_path / "missing.csv")


def test_screen_names_are_kept_for_the_bot_to_resolve() -> None:
    roster = parse_roster(
        "school_id,school_name,vk_id,full_name,role\n"
        "1,СОШ №1,https://vk.com/ivanov_ii,Иванов И.И.,head\n"
        "1,СОШ №1,@petrova.a,Петрова А.А.,deputy\n"
        "1,СОШ №1,id55,Сидоров,deputy\n".encode()
    )
    assert [p.vk_id for p in roster.people] == [55]
    assert [(u.screen_name, u.role.value, u.line) for u in roster.unresolved] == [
        ("ivanov_ii", "head", 2),
        ("petrova.a", "deputy", 3),
    ]
