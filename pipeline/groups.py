"""A grouping buffer's groups as its reading stage gets them: encoded in pieces of about `CHUNK_BYTES`
as they are read, each piece whole groups, so the runner never holds the whole encoded output and
can send the first piece while it encodes the rest (`pipeline.engine`, `pipeline.spill`)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from apache_beam.coders.coder_impl import create_InputStream, create_OutputStream
from apache_beam.transforms.window import GlobalWindow, GlobalWindows
from apache_beam.utils.windowed_value import PaneInfo, PaneInfoTiming

CHUNK_BYTES = 8 << 20  # a grouping's output pieces; the data channel flushes at 10 MiB
_ONLY_PANE = PaneInfo(is_first=True, is_last=True, timing=PaneInfoTiming.ON_TIME, index=0, nonspeculative_index=0)


def encoded_groups(buffer, groups: Iterable[tuple[bytes, list]]) -> Iterator[bytes]:
    """`groups`, (encoded key, values) pairs of `buffer` (an `execution.GroupingBuffer` in the global
    window), encoded as its reader decodes them, in pieces of whole groups; at least one piece."""
    in_window = GlobalWindows.windowed_value(
        None, timestamp=GlobalWindow().max_timestamp(), pane_info=_ONLY_PANE
    ).with_value
    encode, decode_key = buffer._post_grouped_coder.get_impl().encode_to_stream, buffer._key_coder.get_impl().decode
    stream, pieces = create_OutputStream(), 0
    for key, values in groups:
        encode(in_window((decode_key(key), values)), stream, True)
        if stream.size() >= CHUNK_BYTES:
            yield stream.get()
            stream, pieces = create_OutputStream(), pieces + 1
    if stream.size() or not pieces:
        yield stream.get()


def input_elements(buffer, data: bytes) -> Iterator[tuple[bytes, object, int]]:
    """(encoded key, value, bytes of `data` left after it) for each element of `data`, input given to
    `buffer` (an `execution.GroupingBuffer` in the global window), decoded as Beam's grouping does."""
    stream = create_InputStream(data)
    decode, encode_key = buffer._pre_grouped_coder.get_impl().decode_from_stream, buffer._key_coder.get_impl().encode
    while stream.size() > 0:
        key, value = decode(stream, True).value
        yield encode_key(key), value, stream.size()


def encode_input(buffer, key: bytes, values: list, stream) -> None:
    """Write group (`key`, `values`) of `buffer` to `stream` as the input elements it was grouped from,
    as `input_elements` reads them (in the global window; Beam's grouping keeps no timestamps)."""
    encode, decoded_key = buffer._pre_grouped_coder.get_impl().encode_to_stream, buffer._key_coder.get_impl().decode(key)
    for value in values:
        encode(GlobalWindows.windowed_value((decoded_key, value)), stream, True)


class ReadOnce:
    """Pieces encoded as they are read, which only one reader can do: a second one fails, never
    finding fewer groups than there were."""

    def __init__(self, pieces: Iterator[bytes]):
        self._pieces: Iterator[bytes] | None = pieces

    def __iter__(self) -> Iterator[bytes]:
        pieces, self._pieces = self._pieces, None
        if pieces is None:
            raise RuntimeError("a grouping's groups are encoded as they are read, and were read already")
        return pieces
