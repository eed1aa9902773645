"""The static HTML report: rendered in headless Chromium, with hostile story text kept inert."""
from __future__ import annotations

import re
import subprocess

import orjson

from pipeline.html_report import render_html
from pipeline.run import run
from tests.conftest import SAMPLE
from tests.helpers import write_jsonl

SCRIPT_HEADLINE = "<script>document.title='PWNED'</script>Breaking: council votes"
IMG_BODY = ('<img src=x onerror="document.body.setAttribute(\'data-pwned\',\'1\')"> The council voted on '
            "Tuesday to close the harbour after the storm, officials said. ") * 3
HOSTILE = [
    {"id": "evil-1", "source": "Feed <b>One</b>", "headline": SCRIPT_HEADLINE, "body": IMG_BODY,
     "url": "javascript:document.title='PWNED'", "byline": "<iframe src='https://evil.example/'></iframe>",
     "published_at": "2024-03-01T10:00:00Z"},
    {"id": "evil-2", "source": "Feed\"><svg onload=alert(1)>", "headline": SCRIPT_HEADLINE, "body": IMG_BODY,
     "url": "https://example.org/a?b=<c>&d=\"e\"", "published_at": "2024-03-01T11:00:00Z"},
]


def test_every_field_is_escaped_and_only_http_links_are_made():
    report = {
        "accounting": {"records_read": 2, "variants_written": 2, "dead_letters": 0, "balanced": True},
        "stories": 1, "variant_groups": 1, "seconds": {"wall": 1.0},
        "dead_letters_by_reason": {"<script>x</script>": 1}, "story_size_histogram": {"1": 0, "2": 1},
    }
    variants = [
        {"uid": f"u{i}", "id": r["id"], "source": r["source"], "url": r["url"], "headline": r["headline"],
         "byline": r.get("byline"), "dateline": None, "published_at": r["published_at"],
         "relation": "canonical" if i == 0 else "reprint", "similarity": 1.0, "differs": None}
        for i, r in enumerate(HOSTILE)
    ]
    record = {"story_id": "st-<x>", "canonical": {**variants[0], "body": IMG_BODY}, "variants": variants,
              "sources": [r["source"] for r in HOSTILE], "n_variants": 2, "n_variant_groups": 1,
              "first_seen": "2024-03-01T10:00:00Z", "last_updated": "2024-03-01T11:00:00Z", "flags": []}
    page = render_html(report, [record])
    for tag in ("<script", "<img", "<iframe", "<svg onload", "<b>"):
        assert tag not in page
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in page
    assert 'href="javascript:' not in page and "javascript:document.title" in page  # shown, not linked
    assert 'href="https://example.org/a?b=&lt;c&gt;&amp;d=&quot;e&quot;"' in page
    assert not re.search(r"\ssrc=", page.replace("src=x", "").replace("src=&#x27;", ""))  # nothing to load
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def _dump_dom(chromium: str, page) -> str:
    completed = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return completed.stdout


def test_report_renders_stories_in_headless_chromium_and_runs_no_injected_code(tmp_path, chromium):
    hostile = write_jsonl(tmp_path / "hostile.jsonl", [orjson.dumps(r) for r in HOSTILE])
    run(["--input", str(SAMPLE), "--input", str(hostile), "--output", str(tmp_path / "out")])
    dom = _dump_dom(chromium, tmp_path / "out" / "report.html")

    # Neither injected handler ran: the page title and the body's attributes are untouched.
    assert re.search(r"<head>.*?<title>(.*?)</title>", dom, re.S).group(1) == "wire-story-dedup run report"
    assert re.search(r"<body>", dom) and not re.search(r"<body[^>]*data-pwned", dom)
    for element in ("<script", "<img", "<iframe", "<svg onload"):
        assert element not in dom
    # The story content is rendered: the seeds' story with its variants, and the hostile text as text.
    assert "Venezuela forces in shootout with rogue police officer" in dom
    assert "Jamaica Gleaner" in dom and 'class="variant canonical"' in dom
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;Breaking: council votes" in dom
    assert "The 9 largest stories" in dom
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in dom and "story size histogram" in dom
