import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.text import _TRANSLATE, _WORD, clean_body, clean_headline, normalize, unify, word_count, word_tokens, words


def test_strips_wire_dateline_with_agency():
    assert clean_body("CARACAS, Venezuela (AP) — Venezuelan special forces exchanged gunfire.") == (
        "Venezuelan special forces exchanged gunfire."
    )
    assert clean_body("LONDON, Jan 16 (Reuters) - Oil rose on Tuesday.") == "Oil rose on Tuesday."
    assert clean_body("WASHINGTON — The Senate voted.") == "The Senate voted."


def test_keeps_an_ordinary_first_sentence():
    text = "Venezuelan special forces exchanged gunfire - officials said."
    assert clean_body(text) == text


def test_strips_bylines_credits_copyright_and_follow_lines():
    body = (
        "By JANE DOE and JOHN ROE\n"
        "Police said the officer died.\n"
        "(Reporting by Jane Doe; Editing by John Roe)\n"
        "Copyright 2018 The Associated Press. All rights reserved.\n"
        "This material may not be published, broadcast, rewritten or redistributed.\n"
        "Follow us on Twitter @example"
    )
    assert clean_body(body) == "Police said the officer died."


def test_a_rights_reserved_line_goes_whatever_its_case_and_wherever_the_phrase_sits():
    body = "Seats were reserved for families.\n(C) Daily Mail & Co; aLL RIGHTS reSERVED.\nNews Corp, All Rights Reserved"
    assert clean_body(body) == "Seats were reserved for families."


def test_headline_slugs_are_removed():
    assert clean_headline("UPDATE 2-Venezuela rebel cop killed") == "Venezuela rebel cop killed"
    assert clean_headline("CORRECTED-RPT-Oil rises") == "Oil rises"
    assert clean_headline("BREAKING: Quake hits Chile") == "Quake hits Chile"
    assert clean_headline("Update on the vote") == "Update on the vote"


def test_normalize_unifies_unicode_typography_and_case():
    assert normalize("Perez\u2019s “Team”  \uff21\u00ad") == "perez's \"team\" a"
    assert normalize("STRASSE") == normalize("straße")


def test_words_split_possessives_and_keep_decimals_and_acronyms():
    assert words("U.S. officials said Perez’s team won 3.5 million") == [
        "u.s", "officials", "said", "perez", "s", "team", "won", "3.5", "million"
    ]


_ASCII_TEXT = st.lists(st.sampled_from(list(" \t\n._-'\"!?,;:()$%&/\x00\x7faZz09_") + ["U.S.", "...", "e.g.", "3.5"])).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_ASCII_TEXT, st.text()))
def test_word_tokens_equal_the_word_regex(text):
    # The ASCII fast path must give exactly the regex's tokens; other text takes the regex itself.
    assert word_tokens(text) == _WORD.findall(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(st.characters(max_codepoint=127)), st.text()))
def test_unify_is_nfkc_and_the_typographic_translation(text):
    # ASCII text is returned as it is: it must be what the full path would give.
    assert unify(text) == unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    assert all(key > 127 for key in _TRANSLATE)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x00ab.")), max_size=40).map("".join), st.text()))
def test_word_count_is_the_length_of_a_whitespace_split(text):
    assert word_count(text) == len(text.split())


def test_word_tokens_keep_dots_only_between_word_characters():
    assert word_tokens("U.S. troops, e.g. 3.5 km... at 10.30.a..b _x_. .y") == [
        "U.S", "troops", "e.g", "3.5", "km", "at", "10.30.a", "b", "_x_", "y"
    ]
