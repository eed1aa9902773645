"""Turn one raw input line into a `WireStory` or a `DeadLetter` with a reason.

Pure functions: no Beam here. Every way a line can fail is a reason code in `REASONS`, so the
dead-letter output and the run report can be counted and filtered by machine.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import xxhash

from schemas.records import SOURCE_TYPES, DeadLetter, Provenance, WireStory

REASONS = (
    "oversize",  # the raw line is larger than the configured maximum record size
    "invalid_utf8",  # the line is not valid UTF-8
    "malformed_json",  # not parseable as JSON
    "not_an_object",  # valid JSON, but not an object
    "missing_field",  # a required field is absent or null
    "wrong_type",  # a field has the wrong JSON type
    "empty_field",  # id or source is empty
    "empty_body",  # body is empty or only whitespace
    "bad_timestamp",  # published_at is not ISO 8601
    "timestamp_without_zone",  # published_at has no UTC offset: rejected, never guessed
    "invalid_value",  # a field is outside its allowed values (e.g. source_type)
    "too_deeply_nested",  # an unknown field nests deeper than the output encoder can write
    "duplicate_id",  # another record with the same (source, id) was kept
    "unreadable_file",  # the file could not be read to its end (e.g. truncated gzip)
    "too_late",  # streaming: published_at is older than the event-time frontier minus the allowed lateness
)

REQUIRED_STRINGS = ("id", "source", "headline", "body", "published_at")
OPTIONAL_STRINGS = ("url", "byline", "dateline", "language", "source_type")
KNOWN_FIELDS = frozenset(REQUIRED_STRINGS + OPTIONAL_STRINGS)
DEFAULT_MAX_RECORD_BYTES = 2 * 1024 * 1024


class Rejected(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def story_uid(source: str, id_: str) -> str:
    """A stable 16-hex-digit key for (source, id); unlike hash(), identical in every process."""
    return xxhash.xxh3_64_hexdigest(f"{source}\x1f{id_}".encode("utf-8", "surrogatepass"))


def parse_timestamp(value: str) -> dt.datetime:
    """Parse ISO 8601 with an explicit zone and return it in UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise Rejected("bad_timestamp", f"not ISO 8601: {value[:64]!r}") from err
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise Rejected("timestamp_without_zone", f"no UTC offset in {value[:64]!r}")
    try:
        return parsed.astimezone(dt.timezone.utc)
    except OverflowError as err:  # e.g. 0001-01-01T00:00:00+01:00 leaves the representable range
        raise Rejected("bad_timestamp", f"out of range: {value[:64]!r}") from err


def format_timestamp(moment: dt.datetime) -> str:
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _string_field(obj: dict[str, Any], name: str, required: bool) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise Rejected("missing_field", f"{name} is required")
        return None
    if not isinstance(value, str):
        raise Rejected("wrong_type", f"{name} must be a string, got {type(value).__name__}")
    return value


def to_wire_story(obj: Any, provenance: Provenance) -> WireStory:
    """Validate a decoded JSON value; raise `Rejected` when it cannot be a story."""
    if not isinstance(obj, dict):
        raise Rejected("not_an_object", f"top-level JSON value is {type(obj).__name__}")
    fields = {name: _string_field(obj, name, True) for name in REQUIRED_STRINGS}
    fields.update({name: _string_field(obj, name, False) for name in OPTIONAL_STRINGS})
    for name in ("id", "source"):
        if not fields[name].strip():
            raise Rejected("empty_field", f"{name} is empty")
    if not fields["body"].strip():
        raise Rejected("empty_body", "body is empty or whitespace")
    source_type = fields["source_type"]
    if source_type is not None and source_type not in SOURCE_TYPES:
        raise Rejected("invalid_value", f"source_type must be one of {', '.join(SOURCE_TYPES)}")
    moment = parse_timestamp(fields["published_at"])
    try:
        published_ts = moment.timestamp()
    except (OverflowError, ValueError) as err:
        raise Rejected("bad_timestamp", f"out of range: {fields['published_at'][:64]!r}") from err
    extra = {k: v for k, v in obj.items() if k not in KNOWN_FIELDS}
    try:
        orjson.dumps(extra)  # unknown fields are passed through; refuse what could not be written
    except orjson.JSONEncodeError as err:
        raise Rejected("too_deeply_nested", str(err)) from err
    return WireStory(
        uid=story_uid(fields["source"], fields["id"]),
        id=fields["id"],
        source=fields["source"],
        headline=fields["headline"],
        body=fields["body"],
        published_at=format_timestamp(moment),
        published_ts=published_ts,
        url=fields["url"],
        byline=fields["byline"],
        dateline=fields["dateline"],
        language=fields["language"] or "en",
        source_type=source_type,
        extra=extra,
        provenance=provenance,
    )


def parse_line(
    raw: bytes, provenance: Provenance, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> WireStory | DeadLetter:
    """Parse one JSONL line. Never raises for bad input: failures become a `DeadLetter`."""
    text = raw.decode("utf-8", "replace")
    if len(raw) > max_record_bytes:
        return DeadLetter("oversize", f"{len(raw)} bytes > {max_record_bytes}", provenance, text)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return DeadLetter("invalid_utf8", str(err), provenance, text)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        return DeadLetter("malformed_json", str(err), provenance, text)
    try:
        return to_wire_story(obj, provenance)
    except Rejected as rejected:
        return DeadLetter(rejected.reason, rejected.detail, provenance, text)
