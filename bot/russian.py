"""Russian as a native speaker writes it: numerals that agree with nouns, numbers and percents
in Russian style, quotes inside quotes.

Every text the bot sends and every human-readable report goes through these helpers; the rules
they follow are in `bot/TEXTS.md`. Pure functions, no state.
"""

from __future__ import annotations

import re

# A no-break space: between a number and «%», and between groups of digits, so that a line
# never breaks inside «58,3 %» or «12 345». A plain no-break space rather than the narrow one
# (U+202F): every phone font and Excel show it.
NBSP = "\u00a0"


def plural(n: int, one: str, few: str, many: str) -> str:
    """The form of a noun that agrees with the numeral `n`.

    `one` after 1, 21, 31, … (but not 11): «1 школа»; `few` after 2–4, 22–24, … (but not
    12–14): «2 школы»; `many` after everything else: «5 школ», «11 школ», «0 школ».

    The same rule picks the forms after «из»: `plural(n, "школы", "школ", "школ")` gives
    «из 1 школы», «из 31 школы», «из 5 школ».
    """
    n = abs(n)
    if 11 <= n % 100 <= 14:
        return many
    last = n % 10
    if last == 1:
        return one
    if 2 <= last <= 4:
        return few
    return many


def number(value: int | float, digits: int = 1) -> str:
    """A number as Russian text: `58,3`, `100`, `1500`, `12 345`.

    A decimal comma; at most `digits` digits after it, and none when they are zeros; digits in
    groups of three from five digits on (a four-digit number stays whole), joined by no-break
    spaces.
    """
    negative = value < 0
    value = abs(value)
    if isinstance(value, int):
        whole, fraction = str(value), ""
    else:
        text = f"{value:.{digits}f}"
        whole, _, fraction = text.partition(".")
        fraction = fraction.rstrip("0")
    if len(whole) > 4:
        head = len(whole) % 3 or 3
        groups = [whole[:head]] + [whole[i : i + 3] for i in range(head, len(whole), 3)]
        whole = NBSP.join(groups)
    text = f"{whole},{fraction}" if fraction else whole
    return f"−{text}" if negative and text.strip("0,") else text


def counted(n: int, one: str, few: str, many: str) -> str:
    """A numeral with its noun: `counted(5, "школа", "школы", "школ")` -> «5 школ»."""
    return f"{number(n)} {plural(n, one, few, many)}"


def share(part: int, whole: int) -> float:
    """The percent that `part` is of `whole`, rounded DOWN to one decimal, so that 100 means
    everything and 0 means nothing at all; 0 when `whole` is 0."""
    if whole <= 0:
        return 0.0
    return (1000 * part // whole) / 10


def percent(value: float, digits: int = 1) -> str:
    """`58,3 %`: a percent with a decimal comma and a no-break space before the sign."""
    return f"{number(float(value), digits)}{NBSP}%"


def percent_of(part: int, whole: int, digits: int = 1) -> str:
    """`percent(share(part, whole))`; `digits=0` for a whole percent, still rounded down."""
    value = share(part, whole)
    if digits == 0:
        value = float(int(value))
    return percent(value, digits)


_PERCENT = re.compile(r"(\d)[ \u202f]?%")


def typeset(text: str) -> str:
    """Text from elsewhere (a campaign file) set as the bot sets its own: «100%» and «100 %»
    become «100 %» with a no-break space."""
    return _PERCENT.sub(rf"\1{NBSP}%", text)


_ASCII_QUOTED = re.compile(r'"([^"\n]*)"')


def quoted(text: str) -> str:
    """`text` in «ёлочки»; quotes already inside it become „лапки“.

    One rule for quotes inside quotes, as Russian typography has it: «МКОУ „Аксайская СОШ
    №1“», never «МКОУ «Аксайская СОШ №1»».
    """
    inner = _ASCII_QUOTED.sub(r"„\1“", text.strip())
    inner = inner.replace("«", "„").replace("»", "“")
    return f"«{inner}»"
