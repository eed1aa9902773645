"""News-aware text normalisation and tokenisation.

Copies of one wire story differ in furniture that says nothing about the story: datelines
("CARACAS, Venezuela (AP) —"), bylines, slugs ("UPDATE 2-", "CORRECTED-"), reporting and
editing credits, copyright lines and trailing "Follow us on ..." lines. `clean_body` and
`clean_headline` remove them; `normalize` then applies Unicode NFKC and casefolding.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from dedup.shingles import joined_token_hashes

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
    r"|This material may not be published[^\n]*"
    r"|Follow (?:us|@\w+|\w+ on)[^\n]*"
    r"|(?:Reporting|Additional reporting|Writing|Editing) by [^\n]*"
    r"|Related:?[^\n]{0,80}"
    r")\s*$",
    re.IGNORECASE,
)
# The furniture that may sit anywhere in a line. A case-insensitive search runs over the whole line
# (10x the anchored patterns above), so it runs only on lines holding "rved" in some case: its last
# letters have no other case-insensitive forms, so no line that could match is skipped.
_RIGHTS_RESERVED = re.compile(r"All rights reserved", re.IGNORECASE)

_WORD = re.compile(r"\w+(?:\.\w+)*", re.UNICODE)
# The same tokens for ASCII text, in C string passes instead of a regex match per token (3x faster):
# every ASCII character that is not a word character or "." becomes a space, then so does every "."
# that does not sit between two word characters, and the text is split on whitespace.
_ASCII_NON_WORD = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c in "._")})
_STRAY_DOT = re.compile(r"\.(?:(?<![A-Za-z0-9_]\.)|(?![A-Za-z0-9_]))")
# A token right after a sentence-ending character (then only spaces/tabs); "\n" + text makes
# the first token of a text one too. A "." between word characters is inside a token ("Gov.Sarah").
_SENTENCE_INITIAL = re.compile(r"[.!?\n\"':;](?:[ \t]+|(?<!\w\.))(\w+(?:\.\w+)*)", re.UNICODE)


def unify(text: str) -> str:
    """NFKC plus the typographic unifications above, without changing case.

    ASCII text is its own NFKC form and holds none of the characters unified, so it is returned as
    it is: the translation alone scans the text in ~6 us a body, and a body is unified twice.
    """
    if text.isascii():
        return text
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
        if _FURNITURE_LINE.match(line) or ("rved" in line.lower() and _RIGHTS_RESERVED.search(line)):
            continue
        if position < 3 and _BYLINE_LINE.match(line):
            continue
        kept.append(line)
    if kept:
        kept[0] = _DATELINE.sub("", kept[0], count=1)
    return "\n".join(kept)


def words(text: str) -> list[str]:
    """Casefolded word tokens of already cleaned text."""
    return Tokens(text).folded


def word_tokens(text: str) -> list[str]:
    """Word tokens as written: runs of word characters, joined by single dots between them ("U.S")."""
    if not text.isascii():
        return _WORD.findall(text)
    spaced = text.translate(_ASCII_NON_WORD)
    if "." in spaced:
        spaced = _STRAY_DOT.sub(" ", spaced)
    return spaced.split()


# The ASCII characters `str.split()` splits on, as a lookup table over bytes.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[ord(c) for c in map(chr, range(128)) if c.isspace()]] = True


def word_count(text: str) -> int:
    """`len(text.split())`, without making the words: ASCII text counts its word starts in bulk (2x faster)."""
    if not text.isascii():
        return len(text.split())
    space = _ASCII_SPACE[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    if len(space) == 0:
        return 0
    return int(np.count_nonzero(space[:-1] > space[1:])) + (not space[0])


def casefold_all(tokens: list[str]) -> list[str]:
    """`str.casefold` of each token (tokens without NUL characters), in one call."""
    return "\x00".join(tokens).casefold().split("\x00") if tokens else []


class Tokens:
    """The word tokens of one cleaned text, tokenised once for both tiers.

    `written` are the tokens as they appear and `folded_joined` the same casefolded, both joined
    by NUL into one string for bulk work (`written_joined`); computed on first use: `folded`, the
    casefolded tokens as a list, `hashes` (uint64 `token_hashes` of `folded`) and
    `sentence_initial`, the tokens (as written) that open the text or a sentence.
    """

    def __init__(self, text: str):
        self.text = unify(text)
        self.written: list[str] = word_tokens(self.text)
        self.written_joined = "\x00".join(self.written)  # tokens hold no NUL: one string to work on in bulk
        self.folded_joined = self.written_joined.casefold()

    @functools.cached_property
    def folded(self) -> list[str]:
        return self.folded_joined.split("\x00") if self.written else []

    @functools.cached_property
    def hashes(self) -> np.ndarray:
        return joined_token_hashes(self.folded_joined, len(self.written))

    @functools.cached_property
    def sentence_initial(self) -> list[str]:
        return _SENTENCE_INITIAL.findall("\n" + self.text)


def capitalised(texts: Sequence[Tokens]) -> np.ndarray:
    """Whether each token of `texts` (in order) starts with an uppercase letter, in bulk.

    ASCII first characters are tested on the UTF-8 bytes; only the rare others go to `str.isupper`.
    """
    joined = "\x00".join(t.written_joined for t in texts if t.written)
    if not joined:
        return np.zeros(0, dtype=bool)
    data = np.frombuffer(("\x00" + joined).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    first = data[np.flatnonzero(data == 0) + 1]
    upper = (first >= ord("A")) & (first <= ord("Z"))
    other = np.flatnonzero(first >= 0x80)
    written = [token for t in texts for token in t.written] if len(other) else []
    upper[other] = [written[i][0].isupper() for i in other.tolist()]
    return upper


def folded_shapes(folded: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """For NUL-joined runs of folded tokens: each token's length in characters, and whether it is one digit.

    Lengths are the gaps between separators in the UTF-32 code points; the first code point of a
    one-character token says whether it is a digit (ASCII in bulk, others by `str.isdigit`).
    """
    joined = "\x00".join(run for run in folded if run)
    if not joined:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    codes = np.frombuffer(("\x00" + joined + "\x00").encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    bounds = np.flatnonzero(codes == 0)
    lengths = np.diff(bounds) - 1
    first = codes[bounds[:-1] + 1]
    digit = (lengths == 1) & (first >= ord("0")) & (first <= ord("9"))
    other = np.flatnonzero((lengths == 1) & (first >= 0x80))
    digit[other] = [chr(code).isdigit() for code in first[other].tolist()]
    return lengths, digit
