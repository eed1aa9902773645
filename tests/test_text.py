from dedup.text import clean_body, clean_headline, normalize, words


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
