"""Build data/sample/wire_sample.jsonl: the bundled, labeled sample corpus.

- The two seed articles (../../shared/seeds, real reporting on the Oscar Perez shootout from two
  newsrooms a day apart) are copied verbatim: headline = the headline line, body = the rest.
- Wire variants of the AP copy are generated here from seed 000 by deterministic edits: the
  wire original with its dateline, a re-headlined trim, a copy with an inserted local paragraph,
  an "UPDATE 1-" version with a new top paragraph, and a re-bylined reprint.
- Distractors are short synthetic stories written for this sample (not real reporting) that
  share vocabulary with the seeds: other Venezuela news, other police shootouts, other
  fugitives. Some have reprints or a second outlet's write-up, so they form stories too.

Gold labels: `cluster` (story) and `variant_cluster` (reprints of one copy). Run from the repo
root: `python data/sample/build_sample.py [SEEDS_DIR]`.
"""
from __future__ import annotations

import pathlib
import sys

import orjson

HERE = pathlib.Path(__file__).resolve().parent


def split_seed(path: pathlib.Path) -> tuple[str, str]:
    """(headline, body) of a seed file; for seed 000 the headline is its third line."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if path.name.startswith("000_"):
        return lines[2], "\n".join(lines[:2] + lines[3:])
    return lines[0], "\n".join(lines[1:])


def paragraphs_of_ap_copy(gleaner_body: str) -> list[str]:
    """The AP story inside the Gleaner page, without the page furniture and photo caption."""
    paragraphs = [p.strip() for p in gleaner_body.split("\n") if p.strip()]
    start = next(i for i, p in enumerate(paragraphs) if p.startswith("Venezuelan special forces"))
    return paragraphs[start:]


def story(id_, source, source_type, headline, body, published_at, cluster, variant, **extra):
    record = {
        "id": id_, "source": source, "source_type": source_type, "headline": headline, "body": body,
        "published_at": published_at, "cluster": cluster, "variant_cluster": variant,
    }
    record.update(extra)
    return record


DISTRACTORS = [
    # (cluster, variant, id, source, type, headline, published_at, byline, dateline, body)
    ("venezuela-currency", "venezuela-currency-ap", "ap-2018-0115-currency", "AP", "wire",
     "Maduro unveils new banknotes as Venezuela's bolivar collapses", "2018-01-15T18:20:00Z",
     "By Associated Press", "CARACAS, Venezuela",
     "CARACAS, Venezuela (AP) — President Nicolas Maduro on Monday unveiled a new series of banknotes, "
     "saying the larger denominations would ease cash shortages as Venezuela's bolivar lost another third "
     "of its value on the black market.\n"
     "The new notes, printed by the central bank, carry three more zeros. Economists said the change "
     "would do little to slow inflation, which the opposition-led National Assembly estimates at more than "
     "2,600 percent a year.\n"
     "Shoppers in Caracas queued for hours outside banks where cash machines ran dry by midday. "
     "\"Every week the money is worth less,\" said Maria Gonzalez, a retired teacher.\n"
     "Maduro blamed the collapse on an economic war waged by opponents and the United States, and announced "
     "a new minimum wage increase, the third in six months.\n"
     "Critics say printing money to cover state spending is the root of the crisis, and that the "
     "socialist government's price controls have emptied supermarket shelves."),
    ("venezuela-currency", "venezuela-currency-ap", "mh-currency-88121", "Miami Herald", "newspaper",
     "Venezuela rolls out new money as bolivar keeps sinking", "2018-01-16T02:05:00Z",
     "By Associated Press", None,
     "President Nicolas Maduro on Monday unveiled a new series of banknotes, "
     "saying the larger denominations would ease cash shortages as Venezuela's bolivar lost another third "
     "of its value on the black market.\n"
     "The new notes, printed by the central bank, carry three more zeros. Economists said the change "
     "would do little to slow inflation, which the opposition-led National Assembly estimates at more than "
     "2,600 percent a year.\n"
     "Shoppers in Caracas queued for hours outside banks where cash machines ran dry by midday. "
     "\"Every week the money is worth less,\" said Maria Gonzalez, a retired teacher.\n"
     "Maduro blamed the collapse on an economic war waged by opponents and the United States, and announced "
     "a new minimum wage increase, the third in six months."),
    ("venezuela-hunger-march", "venezuela-hunger-march-reuters", "reuters-hunger-march-0116", "Reuters", "wire",
     "Venezuelans march in Caracas over food shortages, clash with National Guard", "2018-01-16T21:40:00Z",
     "By Reuters Staff", "CARACAS",
     "CARACAS (Reuters) - Thousands of Venezuelans marched through eastern Caracas on Tuesday to protest "
     "chronic food shortages, and National Guard troops fired tear gas to stop them reaching the food "
     "ministry.\n"
     "Marchers carried empty pots and banners reading \"We are hungry\". Opposition lawmaker Juan Requesens "
     "said at least 12 people were injured and 20 detained.\n"
     "The food ministry said the march was a provocation organised to destabilise President Nicolas "
     "Maduro's government ahead of this year's presidential election.\n"
     "Looting of food trucks and shops has spread across several states since Christmas, with at least "
     "four people killed in the unrest, according to a rights group.\n"
     "(Reporting by Reuters reporters in Caracas; Editing by an editor)"),
    ("venezuela-hunger-march", "venezuela-hunger-march-bbc", "bbc-world-42712345", "BBC News", "broadcast",
     "Venezuela crisis: Tear gas fired at Caracas hunger protest", "2018-01-17T08:15:00Z",
     None, None,
     "Security forces in Venezuela have fired tear gas at protesters marching against food shortages in "
     "the capital, Caracas.\n"
     "Demonstrators banging empty pots tried to reach the food ministry on Tuesday but were blocked by "
     "the National Guard. An opposition deputy, Juan Requesens, said a dozen people were hurt and about "
     "20 arrested.\n"
     "The government accused the opposition of staging the march to undermine President Nicolas Maduro "
     "before the presidential vote.\n"
     "Venezuela has been hit by a wave of looting since late December as prices soar and basic foods "
     "disappear from shops."),
    ("rio-police-shootout", "rio-police-shootout-reuters", "reuters-rio-0115", "Reuters", "wire",
     "Police shootout with drug gang in Rio favela leaves five dead", "2018-01-15T16:00:00Z",
     "By Reuters Staff", "RIO DE JANEIRO",
     "RIO DE JANEIRO (Reuters) - Five suspected gang members were killed on Monday in a shootout with "
     "military police in the Rocinha favela, Rio de Janeiro's largest slum, police said.\n"
     "Officers came under fire during a dawn operation to arrest a gang leader accused of trafficking "
     "cocaine. One officer was wounded and taken to hospital.\n"
     "Residents posted videos on social media showing heavily armed police moving through narrow alleys "
     "as gunfire echoed across the hillside. Schools in the area were closed.\n"
     "Violence between rival factions has surged in Rocinha since September, when the army was briefly "
     "deployed to restore order."),
    ("texas-officer-killed", "texas-officer-killed-ap", "ap-2018-0117-texas", "AP", "wire",
     "Texas police officer killed in shootout after traffic stop", "2018-01-17T04:30:00Z",
     "By Associated Press", "SAN ANTONIO",
     "SAN ANTONIO (AP) — A police officer was shot and killed Tuesday night during a traffic stop in "
     "San Antonio, and the suspect died after a shootout with other officers, police said.\n"
     "Police Chief William McManus said the officer, a 10-year veteran of the department, had pulled over "
     "a pickup truck for a broken tail light when the driver opened fire.\n"
     "Backup officers chased the driver to an apartment complex, where he was killed in an exchange of "
     "gunfire. No other officers were injured.\n"
     "The officer's name was not immediately released. Mayor Ron Nirenberg called the killing a senseless "
     "act of violence against a public servant."),
    ("texas-officer-killed", "texas-officer-killed-ap", "express-news-20180117-01", "San Antonio Express-News",
     "newspaper", "SAPD officer killed in shootout on Northwest Side", "2018-01-17T07:10:00Z",
     "By Associated Press", None,
     "A police officer was shot and killed Tuesday night during a traffic stop in "
     "San Antonio, and the suspect died after a shootout with other officers, police said.\n"
     "Police Chief William McManus said the officer, a 10-year veteran of the department, had pulled over "
     "a pickup truck for a broken tail light when the driver opened fire.\n"
     "Neighbors on the Northwest Side said they heard at least a dozen shots shortly after 10 p.m. and "
     "saw helicopters circling over Bandera Road until well after midnight.\n"
     "Backup officers chased the driver to an apartment complex, where he was killed in an exchange of "
     "gunfire. No other officers were injured.\n"
     "The officer's name was not immediately released. Mayor Ron Nirenberg called the killing a senseless "
     "act of violence against a public servant."),
    ("colombia-helicopter-crash", "colombia-helicopter-crash-afp", "afp-colombia-heli-0116", "AFP", "wire",
     "Colombian army helicopter crashes, killing nine soldiers", "2018-01-16T13:00:00Z",
     "By AFP", "BOGOTA",
     "BOGOTA (AFP) - A Colombian army helicopter crashed in the northwest of the country on Tuesday, "
     "killing all nine soldiers on board, the military said.\n"
     "The Black Hawk went down in bad weather near the town of Carepa in Antioquia province while carrying "
     "troops to an operation against a drug trafficking gang.\n"
     "Defence Minister Luis Carlos Villegas said there was no sign the aircraft had been shot down and "
     "that an investigation had been opened.\n"
     "President Juan Manuel Santos sent condolences to the families of the soldiers."),
    ("mexico-fugitive-captured", "mexico-fugitive-captured-ap", "ap-2018-0114-mexico", "AP", "wire",
     "Fugitive Mexican cartel boss captured after gunbattle with marines", "2018-01-14T20:00:00Z",
     "By Associated Press", "MEXICO CITY",
     "MEXICO CITY (AP) — Mexican marines captured a fugitive cartel leader on Sunday after a gunbattle at "
     "a ranch in the northern state of Sinaloa, the navy said.\n"
     "The suspect, who had been on the run since escaping from a prison in 2016, was wounded in the "
     "exchange of fire and taken to a military hospital. Two of his bodyguards were killed.\n"
     "The navy said marines seized rifles, grenades and two armored pickup trucks at the ranch.\n"
     "The United States had offered a reward of $5 million for information leading to his arrest."),
    ("venezuela-mayor-escapes", "venezuela-mayor-escapes-ap", "ap-2018-0116-mayor", "AP", "wire",
     "Fugitive Venezuelan opposition mayor flees to Colombia", "2018-01-16T15:45:00Z",
     "By Associated Press", "CARACAS, Venezuela",
     "CARACAS, Venezuela (AP) — A Venezuelan opposition mayor who had been a fugitive since the supreme "
     "court ordered his arrest last year has fled to Colombia, his party said Tuesday.\n"
     "The mayor crossed the border on foot through an illegal trail after weeks in hiding, and plans to "
     "travel on to Spain to join his family, party officials said.\n"
     "The supreme court, packed with government loyalists, sentenced him to 15 months in prison for "
     "failing to stop anti-government protests in his town during last year's months of unrest.\n"
     "Interior Minister Nestor Reverol called the mayor a criminal who had fled justice, and said police "
     "were investigating who helped him escape."),
]


def perez_variants(headline: str, body: str) -> list[dict]:
    """Wire copies of the AP story inside seed 000 (all one variant group)."""
    paragraphs = paragraphs_of_ap_copy(body)
    wire_body = "CARACAS, Venezuela (AP) — " + paragraphs[0] + "\n" + "\n".join(paragraphs[1:])
    new_top = (
        "The standoff continued into Monday night, and the government said security forces had "
        "\"neutralised\" the group, without saying whether Perez was alive."
    )
    local = (
        "In Doral, home to the largest Venezuelan community in the United States, dozens of people "
        "gathered outside a restaurant on Monday night to watch Perez's videos on their phones."
    )
    cluster, variant = "oscar-perez-shootout", "oscar-perez-ap-copy"
    return [
        story("ap-2018-0115-perez", "AP", "wire", "Venezuela forces in shootout with rogue police officer",
              wire_body, "2018-01-15T20:10:00Z", cluster, variant,
              byline="By Associated Press", dateline="CARACAS, Venezuela", url="https://apnews.example/perez-0115"),
        story("ap-2018-0115-perez-u1", "AP", "wire", "UPDATE 1-Venezuela forces in shootout with rogue police officer",
              "CARACAS, Venezuela (AP) — " + new_top + "\n" + "\n".join(paragraphs),
              "2018-01-16T01:30:00Z", cluster, variant,
              byline="By Associated Press", dateline="CARACAS, Venezuela"),
        story("mh-perez-88090", "Miami Herald", "newspaper", "Rogue Venezuelan cop Oscar Perez in standoff with troops",
              "\n".join(paragraphs[:-2]), "2018-01-16T03:00:00Z", cluster, variant,
              byline="By Associated Press", url="https://miamiherald.example/perez"),
        story("tbt-perez-1", "Tampa Bay Times", "newspaper", "Venezuela special forces, fugitive officer exchange fire",
              "\n".join(paragraphs[:4] + [local] + paragraphs[4:]), "2018-01-16T05:45:00Z", cluster, variant,
              byline="Times wire services"),
    ]


def build(seeds_dir: pathlib.Path) -> list[dict]:
    seeds = sorted(seeds_dir.glob("*.txt"))
    gleaner_headline, gleaner_body = split_seed(seeds[0])
    other_headline, other_body = split_seed(seeds[1])
    cluster = "oscar-perez-shootout"
    records = [
        story("gleaner-20180116-perez", "Jamaica Gleaner", "newspaper", gleaner_headline, gleaner_body,
              "2018-01-16T00:00:00-05:00", cluster, "oscar-perez-ap-copy", seed_file=seeds[0].name),
        story("seed-003-perez-killed", "Online newsroom (seed 003)", "online", other_headline, other_body,
              "2018-01-17T12:00:00-05:00", cluster, "oscar-perez-killed-writeup", seed_file=seeds[1].name),
    ]
    records += perez_variants(gleaner_headline, gleaner_body)
    for cluster_id, variant, id_, source, type_, headline, when, byline, dateline, body in DISTRACTORS:
        records.append(story(id_, source, type_, headline, body, when, cluster_id, variant,
                             byline=byline, dateline=dateline))
    return records


def main() -> None:
    seeds_dir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "seeds"
    out = HERE / "wire_sample.jsonl"
    out.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in build(seeds_dir)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
