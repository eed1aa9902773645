"""News-aware text normalisation and tokenisation.

Copies of one wire story differ in furniture that says nothing about the story: datelines
("CARACAS, Venezuela (AP) —"), bylines, slugs ("UPDATE 2-", "CORRECTED-"), reporting and
editing credits, copyright lines and trailing "Follow us on ..." lines. `clean_body` and
`clean_headline` remove them; `normalize` then applies Unicode NFKC and casefolding.
"""
from __future__ import annotations

import re
import unicodedata

# Typographic characters NFKC leaves alone but copies of one story spell differently.
_TRANSLATE = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
        "\u00ad": None, "\u200b": None, "\u200c": None, "\u200d": None, "\ufeff": None,
    }
)

_AGENCIES = r"AP|Reuters|AFP|dpa|DPA|Bloomberg|UPI|CNN|Xinhua|PA|ANSA|EFE|Kyodo|IANS|PTI|Agencies|[A-Z]{2,6}"
_DASH = r"[-\u2013\u2014]+"
# "CARACAS, Venezuela (AP) — " / "WASHINGTON (Reuters) - " / "LONDON, Jan 16 (Reuters) - " / "PARIS — "
_DATELINE = re.compile(
    rf"^\s*[A-Z][A-Z.'\u2019 -]*[A-Z.](?:,\s*[^()\n]{{1,60}}?)?\s*(?:\((?:{_AGENCIES})\)\s*)?{_DASH}\s+"
)
_SLUG = re.compile(
    r"^\s*(?:(?:UPDATE|WRAPUP|REFILE|CORRECTED|CORRECTION|RPT|REPEAT|EXCLUSIVE|BREAKING|URGENT|"
    r"FLASH|ALERT|ANALYSIS|INSIGHT|FACTBOX|RECAST|ADVISORY|NEWSALERT)(?:\s+\d+)?\s*[-:|]+\s*)+",
    re.IGNORECASE,
)
_BYLINE_LINE = re.compile(r"^\s*(?:By|BY|Von|Par|Por)\s+[^\n]{1,80}$")
_CREDITS = re.compile(
    r"\((?:Reporting|Additional reporting|Writing|Editing|Compiled|Reported)\s+by[^()]*\)", re.IGNORECASE
)
_FURNITURE_LINE = re.compile(
    r"^\s*(?:"
    r"(?:Copyright|\(c\)|\u00a9)\s*(?:\d{4})?[^\n]*"
    r"|[^\n]*All rights reserved\.?[^\n]*"
    r"|This material may not be published[^\n]*"
    r"|Follow (?:us|@\w+|\w+ on)[^\n]*"
    r"|(?:Reporting|Additional reporting|Writing|Editing) by [^\n]*"
    r"|Related:?[^\n]{0,80}"
    r")\s*$",
    re.IGNORECASE,
)

_WORD = re.compile(r"\w+(?:\.\w+)*", re.UNICODE)


def unify(text: str) -> str:
    """NFKC plus the typographic unifications above, without changing case."""
    return unicodedata.normalize("NFKC", text).translate(_TRANSLATE)


def normalize(text: str) -> str:
    """Unicode NFKC, typographic unification, casefold and collapsed whitespace."""
    return " ".join(unify(text).casefold().split())


def clean_headline(headline: str) -> str:
    """Drop wire slugs such as "UPDATE 2-", "CORRECTED-", "RPT-" from the front of a headline."""
    return _SLUG.sub("", unify(headline)).strip()


def clean_body(body: str) -> str:
    """Remove wire furniture from a story body and return the remaining text (case kept)."""
    text = _CREDITS.sub(" ", unify(body))
    lines = [line for line in text.splitlines() if line.strip()]
    kept: list[str] = []
    for position, line in enumerate(lines):
        if _FURNITURE_LINE.match(line):
            continue
        if position < 3 and _BYLINE_LINE.match(line):
            continue
        kept.append(line)
    if kept:
        kept[0] = _DATELINE.sub("", kept[0], count=1)
    return "\n".join(kept)


def words(text: str) -> list[str]:
    """Casefolded word tokens of already cleaned text."""
    return _WORD.findall(unify(text).casefold())
