"""Walk the README as the district's IT person would, as far as it goes offline.

Takes the `confirmbot-admin …` and `confirmbot …` commands the README shows, runs the ones that
need no VK (check-config, roster import, roster codes, report, demo) in the order of «Запуск в
работу», with the README's paths moved into a temporary folder, and checks that each exits and
answers as the README says. `run` and `announce` talk to VK and are only listed.

    .venv/bin/python scripts/walk_readme.py     # from a checkout; scripts/walk_readme.sh runs
                                                # it on a clean clone after `make demo`

Exit status 0 if everything the README promises held, 1 otherwise.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIRMBOT = Path(sys.executable).parent / "confirmbot"
TOKEN_ENV = "CONFIRMBOT_VK_TOKEN"  # noqa: S105 - the variable's name

# The README's paths on the server, and where the walk keeps them.
ETC_CONFIG = "/etc/confirmbot/config.toml"
VAR_ROSTER = "/var/lib/confirmbot/roster.xlsx"
DATABASE = "/var/lib/confirmbot/confirmbot.db"

failures: list[str] = []


def check(ok: bool, what: str, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'}  {what}")
    if not ok:
        failures.append(what)
        if detail:
            print("      " + detail.strip().replace("\n", "\n      "))


def readme_commands(text: str) -> list[str]:
    """The arguments of every concrete confirmbot command the README shows, in its order."""
    found: list[str] = []
    for match in re.finditer(r"confirmbot-admin ((?:[a-z-]+)(?: [^`\n']*)?)", text):
        found.append(match.group(1).strip())
    for match in re.finditer(r"`confirmbot ([a-z][^`]*)`", text):
        found.append(match.group(1).strip())
    commands = ("run", "demo", "roster", "check-config", "announce", "report")
    # Generic forms of the command table (FILE, OUT, [options]) are not commands to run.
    return [
        c
        for c in dict.fromkeys(found)
        if c.split()[0] in commands and not re.search(r"\b[A-Z_]{2,}\b|\[|\\\|", c)
    ]


def run(
    args: Sequence[str], env: dict[str, str], cwd: Path, *, timeout: float = 120
) -> tuple[int, str, str, float]:
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own command, our own arguments
        [str(CONFIRMBOT), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr, time.monotonic() - started


def env_with(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    return env


def placeholder_token() -> str:
    """What `deploy/confirmbot.env.example` puts in /etc/confirmbot/confirmbot.env."""
    text = (ROOT / "deploy" / "confirmbot.env.example").read_text(encoding="utf-8")
    match = re.search(rf"^{TOKEN_ENV}=(\S+)$", text, re.M)
    if match is None:
        raise SystemExit("no token line in deploy/confirmbot.env.example")
    return match.group(1)


def xlsx_from_csv(source: Path, target: Path) -> None:
    """The example roster as Excel keeps it: a workbook, ids typed as text."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    if sheet is None:
        raise SystemExit("openpyxl made a workbook without a sheet")
    with source.open(encoding="utf-8-sig", newline="") as rows:
        for row in csv.reader(rows, delimiter=";"):
            sheet.append(row)
    book.save(target)


def check_links(text: str) -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    for link in local:
        check((ROOT / link).exists() and ".." not in Path(link).parts, f"README link {link}")
    check("../" not in text, "README names nothing outside the repository (../)")
    for anchor in re.findall(r"\]\(#([^)]+)\)", text):
        titles = re.findall(r"^#+ (.+)$", text, re.M)
        slugs = {_slug(t) for t in titles}
        check(anchor in slugs, f"README anchor #{anchor}")


def _slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    slug = title.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def main() -> int:
    text = README.read_text(encoding="utf-8")
    check_links(text)
    commands = readme_commands(text)
    print("README commands:", *commands, sep="\n  ")
    wanted = {
        f"check-config --config {ETC_CONFIG}",
        f"roster import {VAR_ROSTER} --config {ETC_CONFIG}",
        "roster codes --config config.toml -o codes.xlsx",
        "demo",
        "demo --schools 200",
    }
    for command in sorted(wanted):
        check(command in commands, f"the README shows `{command}`")

    with tempfile.TemporaryDirectory(prefix="walk-readme-") as tmp:
        base = Path(tmp)
        etc, var = base / "etc", base / "var"
        etc.mkdir()
        var.mkdir()
        config = etc / "config.toml"
        # Step 5: config.example.toml copied; step 6: [storage] path as the README says.
        example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
        database = var / Path(DATABASE).name
        config.write_text(
            re.sub(r'^path = ".*"$', f'path = "{database}"', example, count=1, flags=re.M),
            encoding="utf-8",
        )
        roster = var / Path(VAR_ROSTER).name
        xlsx_from_csv(ROOT / "docs" / "roster.example.csv", roster)

        def args_of(command: str) -> list[str]:
            command = command.replace(ETC_CONFIG, str(config)).replace(VAR_ROSTER, str(roster))
            command = command.replace("config.toml -o codes.xlsx", f"{config} -o codes.xlsx")
            return command.split()

        check_config = args_of(f"check-config --config {ETC_CONFIG}")
        import_roster = args_of(f"roster import {VAR_ROSTER} --config {ETC_CONFIG}")
        example_csv = str(ROOT / "docs" / "roster.example.csv")
        # Step 6 with the placeholder still in confirmbot.env: refused, naming vk.token.
        promised = re.search(r"проверка не проходит: `([^`]+)`", text)
        check(promised is not None, "README says what check-config answers to the placeholder")
        code, out, err, _ = run(check_config, env_with(placeholder_token()), var)
        check(
            code == 1 and promised is not None and promised.group(1) in err and out == "",
            "check-config with the example's placeholder token: exit 1 naming vk.token",
            f"exit {code}\n{out}{err}",
        )
        # The real key in confirmbot.env.
        real = env_with("vk1.a.NotARealToken0123456789")
        code, out, err, _ = run(check_config, real, var)
        first = out.splitlines()[0] if out else ""
        check(
            code == 0 and re.fullmatch(r"OK — конфигурация .* в порядке", first) is not None,
            "check-config with a token: «OK — конфигурация … в порядке»",
            f"exit {code}\n{out}{err}",
        )
        check("NotARealToken" not in out + err, "check-config never shows the token")
        check("базы данных ещё нет" in out, "check-config says the roster is not loaded yet")

        # Step 7: the roster, as a workbook and as the example CSV; no token needed.
        code, out, err, _ = run(import_roster, env_with(None), var)
        check(
            code == 0 and "школы — добавлено 3" in out and "коротким адресом" in out,
            "roster import of the example roster (.xlsx), no token",
            f"exit {code}\n{out}{err}",
        )
        code, out, err, _ = run(
            ["roster", "import", example_csv, "--config", str(config)],
            env_with(None),
            var,
        )
        check(
            code == 0 and "без изменений 3" in out,
            "roster import of docs/roster.example.csv again: nothing changes",
            f"exit {code}\n{out}{err}",
        )
        code, out, err, _ = run(check_config, real, var)
        check(code == 0 and "школ в списке: 3" in out, "check-config counts 3 schools", out + err)

        # Onboarding: codes; the command line table: report. Neither needs the token.
        codes = args_of("roster codes --config config.toml -o codes.xlsx")
        code, out, err, _ = run(codes, env_with(None), var)
        check(
            code == 0 and (var / "codes.xlsx").exists(),
            "roster codes -o codes.xlsx, no token",
            f"exit {code}\n{out}{err}",
        )
        for name in ("report.xlsx", "report.csv"):
            code, out, err, _ = run(
                ["report", "--config", str(config), "-o", name], env_with(None), var
            )
            check(
                code == 0 and (var / name).exists() and "отчёт записан" in out,
                f"report -o {name}, no token",
                f"exit {code}\n{out}{err}",
            )
        header = (var / "report.csv").read_text(encoding="utf-8").splitlines()[0]
        check(
            f"`{header}`" in text,
            "the report's CSV header is the one the README gives",
            header,
        )

        # Several orders (the README's «Several orders at once»): a draft of an order's text,
        # added beside the config's order; the report then names its order.
        for shown in ("campaign draft", "campaign add", "campaign list", "campaign close"):
            check(f"confirmbot {shown}" in text, f"the README shows `confirmbot {shown}`")
        order_text = ROOT / "tests" / "data" / "orders" / "order_47.txt"
        code, out, err, _ = run(
            ["campaign", "draft", str(order_text), "-o", "order_48.toml"], env_with(None), var
        )
        check(
            code == 0 and "файл кампании в порядке" in out,
            "campaign draft of an order's text: a campaign file that loads",
            f"exit {code}\n{out}{err}",
        )
        drafted = var / "order_48.toml"
        if drafted.exists():
            drafted.write_text(
                drafted.read_text(encoding="utf-8")
                .replace('id = "order_47"', 'id = "order_48"')
                .replace('number = "47"', 'number = "48"'),
                encoding="utf-8",
            )
        code, out, err, _ = run(
            ["campaign", "add", "order_48.toml", "--config", str(config)], env_with(None), var
        )
        check(
            code == 0 and "приказ № 48 (order_48) добавлен" in out,
            "campaign add of the draft, no token",
            f"exit {code}\n{out}{err}",
        )
        code, out, err, _ = run(["campaign", "list", "--config", str(config)], env_with(None), var)
        check(
            code == 0 and "order_48" in out and "order_47" in out,
            "campaign list shows both orders",
            f"exit {code}\n{out}{err}",
        )
        code, out, err, _ = run(
            ["report", "--config", str(config), "-o", "two.csv"], env_with(None), var
        )
        check(
            code == 2 and "--campaign" in err,
            "report with two orders and no --campaign: exit 2 naming --campaign",
            f"exit {code}\n{out}{err}",
        )
        code, out, err, _ = run(
            ["report", "--campaign", "48", "--config", str(config), "-o", "two.csv"],
            env_with(None),
            var,
        )
        check(code == 0, "report --campaign 48", f"exit {code}\n{out}{err}")
        code, out, err, _ = run(
            ["campaign", "close", "48", "--config", str(config)], env_with(None), var
        )
        check(code == 0 and "закрыт" in out, "campaign close 48", f"exit {code}\n{out}{err}")

        # Two commands: the demo, "a few seconds".
        for command in ("demo", "demo --schools 3", "demo --schools 4"):
            code, out, err, seconds = run(command.split(), env_with(None), var)
            check(
                code == 0 and "VK API calls made by the bot" in out and "Traceback" not in err,
                f"confirmbot {command}: exit 0 in {seconds:.1f} s",
                f"exit {code}\n{out[-2000:]}{err[-2000:]}",
            )
            if command == "demo":
                check(seconds < 15, f"confirmbot demo takes a few seconds ({seconds:.1f} s)")

        # Exit status 3 as the command line section documents it: a database that is a folder.
        shutil.move(database, var / "kept.db")
        database.mkdir()
        code, out, err, _ = run(import_roster, env_with(None), var)
        check(
            code == 3 and "это папка" in err and "Traceback" not in err,
            "roster import into a database path that is a folder: exit 3, said in words",
            f"exit {code}\n{out}{err}",
        )
        code, out, err, _ = run(check_config, real, var)
        check(
            code == 1 and "это папка" in err and "Traceback" not in err,
            "check-config with a database path that is a folder: exit 1, said in words",
            f"exit {code}\n{out}{err}",
        )

    for command in commands:
        if command.split()[0] in ("run", "announce"):
            print(f"skip  {command} (talks to VK)")
    if failures:
        print(f"\n{len(failures)} README promise(s) did not hold")
        return 1
    print("\nthe README held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
