"""A static, self-contained HTML view of a run: figures, story sizes and the largest stories.

Story text comes from hundreds of feeds and is untrusted: every value goes through `html.escape`,
links are made only for http(s) URLs, and the page carries a Content-Security-Policy that allows
no script and no network load at all (styles are inline; charts are inline SVG).
"""
from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any
from urllib.parse import urlsplit

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1,h2,h3{font-weight:600} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 6px}
.story{border-top:2px solid #444;margin-top:2em;padding-top:.5em}
.variants{display:flex;gap:8px;overflow-x:auto;padding-bottom:6px}
.variant{flex:0 0 260px;border:1px solid #bbb;border-radius:4px;padding:6px;background:#fafafa}
.variant.canonical{border-color:#2a6;background:#f2fbf5}
.meta{color:#555;font-size:12px;word-break:break-all} .body{white-space:pre-wrap;max-height:16em;overflow:auto}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _link(url: str | None) -> str:
    if not url:
        return ""
    if urlsplit(url).scheme.lower() in ("http", "https"):
        return f'<a href="{_e(url)}" rel="noopener noreferrer nofollow">{_e(url)}</a>'
    return _e(url)  # javascript:, data: and the like stay inert text


def _ts(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def histogram_svg(histogram: dict[str, int]) -> str:
    """Bars of the story size histogram (bins in the report's order)."""
    bins = sorted(histogram.items(), key=lambda kv: int(kv[0].split("-")[0].rstrip("+")))
    peak = max([count for _, count in bins] + [1])
    width, height, bar = 60 * len(bins), 160, 44
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img" '
             f'aria-label="story size histogram">']
    for index, (label, count) in enumerate(bins):
        h = round(height * count / peak)
        x = index * 60 + 8
        parts.append(f'<rect x="{x}" y="{height - h}" width="{bar}" height="{h}" fill="#48a"><title>{_e(label)} '
                     f'variants: {count} stories</title></rect>')
        parts.append(f'<text x="{x + bar / 2}" y="{height + 14}" font-size="11" text-anchor="middle">{_e(label)}</text>')
        parts.append(f'<text x="{x + bar / 2}" y="{height + 30}" font-size="11" text-anchor="middle">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def timeline_svg(variants: list[dict[str, Any]]) -> str:
    """One row per source, a dot per variant at its publication time."""
    times = [_ts(v["published_at"]) for v in variants]
    start, span = min(times), max(max(times) - min(times), 1.0)
    sources = sorted({v["source"] for v in variants})
    row = {source: i for i, source in enumerate(sources)}
    width, left, height = 640, 200, 18 * len(sources) + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + left + 20}" height="{height}" role="img" '
             f'aria-label="timeline of sources">']
    for source, i in row.items():
        parts.append(f'<text x="{left - 6}" y="{18 * i + 16}" font-size="11" text-anchor="end">{_e(source[:30])}</text>')
    for variant, t in zip(variants, times):
        x = left + width * (t - start) / span
        y = 18 * row[variant["source"]] + 12
        colour = "#2a6" if variant["relation"] == "canonical" else "#48a" if variant["relation"] == "reprint" else "#c63"
        parts.append(f'<circle cx="{x:.1f}" cy="{y}" r="5" fill="{colour}"><title>{_e(variant["source"])} '
                     f'{_e(variant["published_at"])} ({_e(variant["relation"])}): {_e(variant["headline"])}</title></circle>')
    hours = span / 3600
    parts.append(f'<text x="{left}" y="{height - 2}" font-size="11">span {hours:.1f} h</text></svg>')
    return "".join(parts)


def _variant_card(variant: dict[str, Any]) -> str:
    differs = variant.get("differs") or {}
    changed = [name for name in ("headline", "byline", "dateline") if differs.get(name)]
    if differs:
        changed.append(f"length ×{differs['length_ratio']}")
    return (
        f'<div class="variant {_e(variant["relation"])}">'
        f'<div class="meta">{_e(variant["source"])} · {_e(variant["published_at"])} · {_e(variant["relation"])} · '
        f'similarity {_e(variant["similarity"])}</div>'
        f'<h4>{_e(variant["headline"])}</h4>'
        f'<div class="meta">byline: {_e(variant.get("byline"))}<br>dateline: {_e(variant.get("dateline"))}<br>'
        f'id: {_e(variant["id"])}<br>url: {_link(variant.get("url"))}<br>'
        f'differs: {_e(", ".join(changed) or "-")}</div>'
        f"</div>"
    )


def _story_section(record: dict[str, Any]) -> str:
    canonical = record["canonical"]
    body = canonical["body"]
    shown = body if len(body) <= 3000 else body[:3000] + " …"
    return (
        f'<section class="story" id="{_e(record["story_id"])}">'
        f'<h3>{_e(canonical["headline"])}</h3>'
        f'<div class="meta">{_e(record["story_id"])} · {record["n_variants"]} variants in '
        f'{record["n_variant_groups"]} variant groups · {len(record["sources"])} sources · '
        f'{_e(record["first_seen"])} → {_e(record["last_updated"])}'
        f'{" · flags: " + _e(", ".join(record["flags"])) if record["flags"] else ""}</div>'
        f"{timeline_svg(record['variants'])}"
        f'<div class="variants">{"".join(_variant_card(v) for v in record["variants"])}</div>'
        f'<details><summary>canonical body ({len(body):,} characters)</summary>'
        f'<div class="body">{_e(shown)}</div></details></section>'
    )


def render_html(report: dict[str, Any], stories: list[dict[str, Any]]) -> str:
    """The page for one run: `report` is report.json, `stories` the largest story records."""
    accounting = report["accounting"]
    figures = [
        ("records read", accounting["records_read"]), ("variants written", accounting["variants_written"]),
        ("dead letters", accounting["dead_letters"]), ("accounting balanced", accounting["balanced"]),
        ("stories", report["stories"]), ("variant groups", report["variant_groups"]),
        ("wall seconds", report["seconds"]["wall"]),
    ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in figures)
    reasons = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in report["dead_letters_by_reason"].items())
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        "<title>wire-story-dedup run report</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>wire-story-dedup run report</h1>"
        f"<table>{rows}</table>"
        f"<h2>Dead letters by reason</h2><table>{reasons or '<tr><td>none</td></tr>'}</table>"
        f"<h2>Story sizes (variants per story)</h2>{histogram_svg(report['story_size_histogram'])}"
        f"<h2>The {len(stories)} largest stories</h2>"
        f"{''.join(_story_section(r) for r in stories)}"
        "</body></html>"
    )
