"""Which writer for the report's «История» sheet: the same rows through each, each in its own
process (wall time and peak RSS).

    python -m bench.writers [--rows 275737]

Writers that are not installed are reported as such: XlsxWriter cell by cell (how the report
wrote the sheet before issue 15), the report's XML rows spliced into XlsxWriter's workbook
(after), and, where installed from the package index, pyexcelerate and rustpy-xlsxwriter. The
rows are history-shaped: a time and nine texts, the state's cell coloured; the generation of
the rows alone is the baseline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import vm_hwm_mb
from bot.texts import REPORT_HISTORY_HEADER

STATES = (("выполнено", "#C6EFCE"), ("в работе", "#FFEB9C"), ("проблема", "#FFC7CE"))
HEADER = REPORT_HISTORY_HEADER
WRITERS = ("rows only", "xlsxwriter cells", "confirmbot rows", "pyexcelerate", "rustpy-xlsxwriter")


def history(rows: int) -> Iterator[tuple[dt.datetime, list[str], int]]:
    """(time, nine texts, state index) per row, as the report's history holds them."""
    start = dt.datetime(2023, 10, 16, 9, 0)  # noqa: DTZ001 - a local time, as the sheet shows
    for n in range(rows):
        state = (n * 7) % 3
        school = n % 40_000
        yield (
            start + dt.timedelta(seconds=n),
            [
                f"{school:05d}",
                f"МКОУ «СОШ №{school}» с. Школьное-{school % 97}",
                f"3.{n % 6 + 1}",
                STATES[state][0],
                "педагоги: подключено 45 из 50 (90 %)" if n % 6 == 1 else "",
                "нет интернета" if state == 2 else "",
                f"Директоров Д. {school} (id{100_000 + school})",
                "кнопкой" if n % 3 else "сообщением",
                "нет",
            ],
            state,
        )


def write_xlsxwriter(path: Path, rows: int) -> None:
    import xlsxwriter  # type: ignore[import-untyped]

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("История")
    text = book.add_format({"text_wrap": True, "valign": "top"})
    when = book.add_format({"num_format": "dd.mm.yyyy hh:mm", "valign": "top"})
    fills = [book.add_format({"bg_color": c, "text_wrap": True}) for _, c in STATES]
    for column, title in enumerate(HEADER):
        sheet.write_string(0, column, title, text)
    for r, (moment, texts, state) in enumerate(history(rows), start=1):
        sheet.write_datetime(r, 0, moment, when)
        for column, value in enumerate(texts, start=1):
            if value:
                sheet.write_string(r, column, value, fills[state] if column == 4 else text)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, rows, len(HEADER) - 1)
    book.close()


def write_confirmbot(path: Path, rows: int) -> None:
    import xlsxwriter

    from bot.report import _excel_time, _SheetRows, _splice_rows

    scratch = path.parent / "scratch"
    scratch.mkdir()
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "tmpdir": str(scratch)})
    sheet = book.add_worksheet("История")
    text = book.add_format({"text_wrap": True, "valign": "top"})
    when = book.add_format({"num_format": "dd.mm.yyyy hh:mm", "valign": "top"})
    fills = [book.add_format({"bg_color": c, "text_wrap": True}) for _, c in STATES]
    for column, title in enumerate(HEADER):
        sheet.write_string(0, column, title, text)
    s_text, s_when = text._get_xf_index(), when._get_xf_index()
    s_fills = [f._get_xf_index() for f in fills]
    out = _SheetRows(scratch / "rows.xml")
    for r, (moment, texts, state) in enumerate(history(rows), start=1):
        cells: list[tuple[int, int, str | float | None]] = [(0, s_when, _excel_time(moment))]
        cells += [
            (column, s_fills[state] if column == 4 else s_text, value)
            for column, value in enumerate(texts, start=1)
            if value
        ]
        out.add(r, cells)
    out.close()
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, rows, len(HEADER) - 1)
    book.close()
    _splice_rows(
        path, scratch / "spliced.xlsx", {"xl/worksheets/sheet1.xml": (out, f"A1:J{rows}")}
    )


def write_pyexcelerate(path: Path, rows: int) -> None:
    from pyexcelerate import Color, Fill, Format, Style, Workbook  # type: ignore[import-not-found]

    book = Workbook()
    data: list[list[Any]] = [list(HEADER)]
    states: list[int] = []
    for moment, texts, state in history(rows):
        data.append([moment, *(value or None for value in texts)])
        states.append(state)
    sheet = book.new_sheet("История", data=data)
    sheet.set_col_style(1, Style(format=Format("dd.mm.yyyy hh:mm")))
    fills = [
        Style(fill=Fill(background=Color(*(int(c[i : i + 2], 16) for i in (1, 3, 5)))))
        for _, c in STATES
    ]
    for r, state in enumerate(states, start=2):
        sheet.set_cell_style(r, 5, fills[state])
    book.save(str(path))


def write_rustpy(path: Path, rows: int) -> None:
    from rustpy_xlsxwriter import Format, write_worksheet  # type: ignore[import-not-found]

    records = (
        dict(zip(HEADER, [moment, *(value or None for value in texts)], strict=True))
        for moment, texts, _ in history(rows)
    )
    # Cell formats come per column here; the state's colour only as conditional formats.
    rules = [
        {
            "type": "text",
            "criteria": "begins_with",
            "value": name,
            "format": Format().set_background_color(colour),
        }
        for name, colour in STATES
    ]
    write_worksheet(
        records,
        str(path),
        sheet_name="История",
        freeze_row=1,
        datetime_format="dd.mm.yyyy hh:mm",
        autofilter=True,
        conditional_formats={"Состояние": rules},
    )


def measure(writer: str, rows: int, path: Path) -> dict[str, Any]:
    start = time.perf_counter()
    if writer == "rows only":
        for _ in history(rows):
            pass
    elif writer == "xlsxwriter cells":
        write_xlsxwriter(path, rows)
    elif writer == "confirmbot rows":
        write_confirmbot(path, rows)
    elif writer == "pyexcelerate":
        write_pyexcelerate(path, rows)
    else:
        write_rustpy(path, rows)
    seconds = time.perf_counter() - start
    size = path.stat().st_size / 1e6 if path.exists() else 0.0
    return {"seconds": seconds, "peak_mb": vm_hwm_mb(), "mb": size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.writers", description=__doc__)
    parser.add_argument("--rows", type=int, default=275_737)
    parser.add_argument("--one", choices=WRITERS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.rows, args.out)))
        return 0
    print(f"| writer ({args.rows:,} history rows) | seconds | peak RSS | file |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="confirmbot-writers-") as scratch:
        for n, writer in enumerate(WRITERS):
            folder = Path(scratch) / str(n)
            folder.mkdir()
            done = subprocess.run(  # noqa: S603 - our own module, our own arguments
                [
                    sys.executable,
                    "-m",
                    "bench.writers",
                    "--rows",
                    str(args.rows),
                    "--one",
                    writer,
                    "--out",
                    str(folder / "history.xlsx"),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["failed"])[-1]
                print(f"| {writer} | — | — | {last[:80]} |")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"| {writer} | {r['seconds']:.1f} | {r['peak_mb']:.0f} MB | {r['mb']:.1f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
