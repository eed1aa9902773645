"""The streaming engine (`dedup.incremental.StoryIndex`) without Beam."""
from __future__ import annotations

import datetime as dt

import orjson

from dedup.incremental import ADDED, DUPLICATE_ID, TOO_LATE, StoryIndex, StreamSettings
from schemas.validate import format_timestamp
from tests.conftest import SAMPLE
from tests.helpers import wire_story

HOUR = 3600.0
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
SAMPLE_RECORDS = [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines()]
WIRE = next(r for r in SAMPLE_RECORDS if r["id"] == "ap-2018-0117-texas")


def at(hours: float) -> str:
    return format_timestamp(T0 + dt.timedelta(hours=hours))


def reprint(n: int, hours: float, **fields):
    """Copy n of the sample's Texas wire story: a local paper trims the last sentence and re-headlines it."""
    sentences = WIRE["body"].split(". ")
    body = ". ".join(sentences[: len(sentences) - (n % 2)])
    return wire_story(f"texas-{n}", f"Paper {n}", f"UPDATE {n}-" + WIRE["headline"], body, at(hours), line=n)


def words(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(n)]


def test_story_grows_from_one_to_n_variants_with_versions_one_to_n():
    index = StoryIndex()
    upserts = []
    for n in range(1, 6):
        status, out = index.add(reprint(n, hours=n * 0.5))
        assert status == ADDED and len(out) == 1
        upserts += out
    assert [u["version"] for u in upserts] == [1, 2, 3, 4, 5]
    assert len({u["story_id"] for u in upserts}) == 1
    assert [u["n_variants"] for u in upserts] == [1, 2, 3, 4, 5]
    last = upserts[-1]
    assert last["story_id"] == f"st-{reprint(1, 0).uid}"
    assert {v["relation"] for v in last["variants"]} == {"canonical", "reprint"}
    assert all(e["tier"] == "variant" and e["similarity"] >= 0.5 for e in last["evidence"])


def test_out_of_order_within_lateness_joins_and_too_late_is_rejected():
    index = StoryIndex(StreamSettings(allowed_lateness_s=2 * HOUR))
    assert index.add(reprint(1, hours=10))[0] == ADDED
    status, out = index.add(reprint(2, hours=8.5))  # 1.5 h behind the newest seen: on time
    assert status == ADDED and out[0]["version"] == 2 and out[0]["n_variants"] == 2
    assert out[0]["first_seen"] == at(8.5)  # the record reflects event time, the id stays put
    assert out[0]["story_id"] == f"st-{reprint(1, 0).uid}"
    assert index.add(reprint(3, hours=7.5)) == (TOO_LATE, [])  # 2.5 h behind
    assert index.add(reprint(1, hours=10)) == (DUPLICATE_ID, [])


def test_copy_after_the_horizon_starts_a_new_story_and_state_is_evicted():
    settings = StreamSettings(horizon_s=72 * HOUR, allowed_lateness_s=HOUR)
    index = StoryIndex(settings)
    first = index.add(reprint(1, hours=0))[1][0]
    within = index.add(reprint(2, hours=60))[1][0]
    assert within["story_id"] == first["story_id"] and within["version"] == 2
    # 60 h + 72 h + 1 h later the whole story (newest member at 60 h) is out of the horizon.
    late = index.add(reprint(3, hours=60 + 73.5))[1][0]
    assert late["story_id"] != first["story_id"] and late["version"] == 1
    assert set(index.held) == {reprint(3, 0).uid}
    assert index.stats["evicted_stories"] == 1
    assert not any(reprint(1, 0).uid in bucket for bucket in index.variant_buckets.values())
    assert index.n_docs == 1 and int(index.df.sum()) == len(index.groups[reprint(3, 0).uid].terms.hashes)


def topic_story(name: str, vocabulary: list[str], hours: float):
    body = " ".join(vocabulary * 3) + "."
    return wire_story(name, f"Outlet {name}", " ".join(vocabulary[:4]), body, at(hours))


def test_an_item_bridging_two_stories_merges_them_with_merged_into():
    a, b = words("red", 12), words("blue", 12)
    bridge = [w for pair in zip(a, b) for w in pair]  # shares terms with both, no word 4-gram with either
    index = StoryIndex(StreamSettings(story_edge_threshold=0.15, story_threshold=0.3))
    x = index.add(topic_story("x", a, 1))[1][0]
    y = index.add(topic_story("y", b, 2))[1][0]
    assert x["story_id"] != y["story_id"]
    status, out = index.add(topic_story("z", bridge, 3))
    assert status == ADDED
    merged = [u for u in out if "merged_into" in u]
    survivor = next(u for u in out if "merged_into" not in u)
    assert merged == [{"story_id": y["story_id"], "version": 2, "merged_into": x["story_id"]}]
    assert survivor["story_id"] == x["story_id"] and survivor["version"] == 2
    assert {v["id"] for v in survivor["variants"]} == {"x", "y", "z"}
    assert {v["relation"] for v in survivor["variants"]} == {"canonical", "rewrite"}
    assert {e["tier"] for e in survivor["evidence"]} == {"story"}
    assert set(index.stories) == {x["story_id"]}


def test_unrelated_stories_stay_apart():
    index = StoryIndex()
    ids = {index.add(topic_story(name, words(name, 15), i))[1][0]["story_id"] for i, name in enumerate("pqrst")}
    assert len(ids) == 5


def test_held_state_stays_flat_on_an_endless_feed():
    settings = StreamSettings(horizon_s=6 * HOUR, allowed_lateness_s=HOUR)
    index = StoryIndex(settings)
    held = []
    for i in range(600):  # one story every 10 minutes for 100 hours; each horizon holds ~42 + lateness
        index.add(topic_story(f"s{i}", words(f"t{i}x", 10), i / 6))
        held.append(len(index.held))
    assert max(held[300:]) == max(held[100:300]) <= (6 + 1) * 6 + 1
    assert len(index.variant_buckets) <= max(held) * settings.variant_bands[0]



def test_engine_defaults_are_the_pipeline_option_defaults():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.options import DedupOptions, stream_settings

    assert stream_settings(PipelineOptions([]).view_as(DedupOptions)) == StreamSettings()
