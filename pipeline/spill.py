"""Disk-backed data for the local engine: past a memory threshold, what the runner holds between
stages, and what a stage's bundle sends and produces, waits in temporary files instead of in memory.

On the FnApiRunner every PCollection that crosses a stage boundary is held in the runner's memory
from the end of the stage that writes it until the stage that reads it has run. In memory mode the
worker is this process too, and its data channel is a list: a stage's whole input is queued before
the bundle starts, and everything the bundle writes is queued until it ends, then moved into the
buffers of the stages that read it (a second copy while that runs). So a batch run's memory grew with
the corpus, ~15 KiB a story: a 1,000,000-story run peaked at 14.7 GiB.

`spill_to_disk` has those places keep the bytes they are given in anonymous temporary files (deleted
when closed, or when the process ends, however it ends), and only positions in memory, once the
process's resident memory reaches a threshold (`--spill_above_mib`); below it they hold bytes, as
Beam's do:
- the in-memory data channel appends each message to a file of its bundle, read back when the
  receiving side reads it; the file goes once nothing holds a piece of it;
- a grouping buffer (global window) sorts the elements it is given into `KEY_SLOTS` slots by key,
  each slot's pieces in its file, and when its reading stage asks for the groups, groups one slot
  at a time: it holds one slot's elements decoded, not its whole input (at 1,000,000 stories a
  526,102-key table of 2.5 GiB). Below the threshold it groups them as they come, as Beam does (in
  multi_processing mode the runner then decodes while the workers compute). A piece of the data
  channel handed over whole (in memory mode) is kept as it is and decoded whole when read;
- a materialised PCollection (`ListBuffer`) keeps pieces.
A piece already on disk is never written again: a buffer given the bytes of the channel message being
read keeps that message's piece, and a spilled piece sent to the worker is queued as it is.

Writing is what spilling costs: the page cache takes the files, but the kernel throttles a process
that dirties pages faster than the disk takes them (~300 MB/s on our VM). Below the threshold
nothing is written, so a run that fits in memory pays nothing. What stays in memory past it is
what the running stage works on: a slot of the grouping it reads at a time for each part of it
(a whole grouping kept as the channel handed it over), while it is decoded and encoded again, and
the elements the worker holds; and the groupings filled before the threshold was reached. The
files live in the system's temporary directory (`TMPDIR`) and hold up to the run's shuffled data.
As with `pipeline.engine`, this reads FnApiRunner internals (Beam 2.77), which tests/test_spill.py
checks. One path of the runner is left out: with several workers, splitting a running bundle (only
Beam's split-manager tests ask for it) joins the input it sent, which would be positions.
"""
from __future__ import annotations

import functools
import itertools
import os
import tempfile
import threading
import weakref
from collections import defaultdict
from typing import NamedTuple

from apache_beam.coders.coder_impl import create_OutputStream
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability.fn_api_runner import execution, fn_runner
from apache_beam.runners.worker.data_plane import InMemoryDataChannel, SizeBasedBufferingClosableOutputStream

from pipeline.groups import ReadOnce, encode_input, encoded_groups, input_elements


class SpillFile:
    """Byte strings appended to an anonymous temporary file, read back by position.

    Safe to append from several threads: in multi_processing mode the runner reads each worker's
    outputs in a thread of its own, into the same buffers. Each append reserves its range first;
    the writes, which let go of the GIL, then go to distinct ranges.
    """

    def __init__(self):
        self._file = tempfile.TemporaryFile(prefix="wire-dedup-spill-")
        self._fd = self._file.fileno()
        self._reserving = threading.Lock()
        self.size = 0

    def put(self, data: bytes) -> tuple[int, int]:
        """Append `data`; -> (offset, length) to `get` it back."""
        with self._reserving:
            at = self.size
            self.size += len(data)
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, at + len(data) - len(view))
            view = view[written:]
        return at, len(data)

    def get(self, at: int, length: int) -> bytes:
        pieces = []
        while length:
            piece = os.pread(self._fd, length, at)
            if not piece:
                raise EOFError(f"spill file ends before {at + length}")
            pieces.append(piece)
            at, length = at + len(piece), length - len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def clear(self) -> None:
        os.ftruncate(self._fd, 0)
        self.size = 0


class Spilled(NamedTuple):
    """Bytes kept in a `SpillFile`: what a buffer or channel holds in their place."""

    file: SpillFile
    at: int
    length: int

    @classmethod
    def put(cls, file: SpillFile, data: bytes) -> Spilled:
        return cls(file, *file.put(data))

    def read(self) -> bytes:
        return self.file.get(self.at, self.length)


class _SpilledMessage(NamedTuple):
    """A data message queued in an in-memory channel, its bytes in a spill file."""

    instruction_id: str
    transform_id: str
    data: Spilled

    def read(self) -> beam_fn_api_pb2.Elements.Data:
        return beam_fn_api_pb2.Elements.Data(
            instruction_id=self.instruction_id, transform_id=self.transform_id, data=self.data.read()
        )


class _HandOver(threading.local):
    """The spilled piece whose bytes a channel's reader is handling: a buffer that is given exactly
    those bytes keeps the piece rather than writing them again."""

    piece: Spilled | None = None
    data: bytes | None = None

    def offer(self, piece: Spilled | None, data: bytes | None = None) -> None:
        self.piece, self.data = piece, data

    def take(self, data: bytes) -> Spilled | None:
        piece, offered = self.piece, self.data
        self.offer(None)
        return piece if piece is not None and offered == data else None


_hand_over = _HandOver()
# Guards what a buffer opens on its first append: in multi_processing mode the runner's threads for
# each worker append to the same buffers, and a second list or file would lose what the first held.
_opening = threading.Lock()


class _MessageQueue(list):
    """A channel's queue of messages; iterating it reads the spilled messages of `reading` (an
    instruction id) back, one at a time, and passes every other message on as it is."""

    def __init__(self, messages, reading: str):
        super().__init__(messages)
        self.reading = reading

    def __iter__(self):
        for message in super().__iter__():
            if not (isinstance(message, _SpilledMessage) and message.instruction_id == self.reading):
                yield message
                continue
            read = message.read()
            _hand_over.offer(message.data, read.data)
            try:
                yield read
            finally:
                _hand_over.offer(None)


class _SpillingOutputStream(SizeBasedBufferingClosableOutputStream):
    """An in-memory channel's output stream: bytes are buffered and flushed as Beam's stream does; a
    spilled piece written to it goes on as it is (after the bytes before it), not read and written again."""

    def __init__(self, send, pass_on):
        super().__init__(send, flush_callback=send)
        self._pass_on = pass_on

    def write(self, b, nested=False):
        if isinstance(b, Spilled):
            self.flush()
            self._pass_on(b)
        else:
            super().write(b, nested)


class _Threshold:
    """When new bytes go to disk: once this process's resident memory reaches `above_bytes` (0: always;
    None: never). Where the resident size cannot be read (no /proc), always."""

    above_bytes: int | None = 0

    def reached(self) -> bool:
        if self.above_bytes is None:
            return False
        if self.above_bytes == 0:
            return True
        try:
            with open("/proc/self/statm", "rb") as statm:
                resident = int(statm.read().split()[1]) * _PAGE_BYTES
        except (OSError, IndexError, ValueError):
            return True
        return resident >= self.above_bytes


_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_threshold = _Threshold()


def spill_to_disk(above_mib: int) -> None:
    """Make the in-memory data channel, grouping buffers and materialised PCollections of this process
    keep the bytes they are given in temporary files once its resident memory reaches `above_mib` MiB
    (0: from the start; negative: never). Installs once, over `pipeline.engine`'s patches of the same
    methods (`local_engine` installs both, in that order); each call sets the threshold for the process."""
    _threshold.above_bytes = None if above_mib < 0 else above_mib << 20
    if getattr(InMemoryDataChannel.output_stream, "spills", False):
        return
    _spill_channel()
    _spill_groupings()
    _spill_held_groupings()
    _spill_list_buffers()
    _send_spilled_input()


def _spill_channel() -> None:
    """Messages go to a file per bundle (instruction), which lives as long as a buffer keeps a piece of it."""
    input_elements = InMemoryDataChannel.input_elements

    def bundle_file(channel, instruction_id: str) -> SpillFile:
        if getattr(channel, "bundle_files", None) is None:
            channel.bundle_files = {}
        if instruction_id not in channel.bundle_files:
            channel.bundle_files[instruction_id] = SpillFile()
        return channel.bundle_files[instruction_id]

    def output_stream(self, instruction_id, transform_id):
        receiver = self._inverse

        def pass_on(piece: Spilled) -> None:
            receiver._inputs.append(_SpilledMessage(instruction_id, transform_id, piece))

        def send(data: bytes) -> None:
            if not data:
                return  # the reader skips empty messages; an in-memory stream's end is its closing
            if _threshold.reached():
                pass_on(Spilled.put(bundle_file(receiver, instruction_id), data))
            else:
                receiver._inputs.append(
                    beam_fn_api_pb2.Elements.Data(instruction_id=instruction_id, transform_id=transform_id, data=data)
                )

        return _SpillingOutputStream(send, pass_on)

    def read_spilled_elements(self, instruction_id, *args, **kwargs):
        self._inputs = _MessageQueue(self._inputs, instruction_id)
        yield from input_elements(self, instruction_id, *args, **kwargs)
        getattr(self, "bundle_files", {}).pop(instruction_id, None)

    output_stream.spills = True
    InMemoryDataChannel.output_stream = output_stream
    InMemoryDataChannel.input_elements = read_spilled_elements


def _spill_file(holder) -> SpillFile:
    """The spill file of a buffer, opened on first use."""
    with _opening:
        if getattr(holder, "spill_file", None) is None:
            holder.spill_file = SpillFile()
        return holder.spill_file


def _kept(holder, data: bytes) -> Spilled | bytes:
    """What a buffer keeps of `data`: the spilled piece it was just read from; else, past the threshold,
    `data` appended to the holder's file; else `data`."""
    piece = _hand_over.take(data)
    if piece is None and _threshold.reached():
        piece = Spilled.put(_spill_file(holder), data)
    return data if piece is None else piece


KEY_SLOTS = 32  # a spilled grouping is grouped one slot of its keys at a time
SLOT_PIECE_BYTES = 512 << 10  # what a slot gathers in memory before it goes to the file


class _KeySlots:
    """A grouping's input past the threshold, each element in the slot of its key, each slot a list of
    spilled pieces: the elements of a key are all in one slot, so grouping slot after slot finds every
    group while holding one slot's elements decoded, not the whole input.

    Safe to add to from several threads (the runner's reader of each worker): pieces are appended whole.
    """

    def __init__(self):
        self.file = SpillFile()
        self.pieces: list[list[Spilled]] = [[] for _ in range(KEY_SLOTS)]
        self._gathered = [bytearray() for _ in range(KEY_SLOTS)]
        self._gathering = threading.Lock()
        self._unread = KEY_SLOTS

    def add(self, buffer, data: bytes) -> None:
        """Sort the elements of `data`, input of grouping `buffer`, into the slots of their keys."""
        sorted_data, view, start = [bytearray() for _ in range(KEY_SLOTS)], memoryview(data), 0
        for key, _, left in input_elements(buffer, data):
            end = len(data) - left
            sorted_data[hash(key) % KEY_SLOTS] += view[start:end]
            start = end
        for slot, elements in enumerate(sorted_data):
            self._gather(slot, elements)

    def add_groups(self, buffer, table: dict) -> None:
        """Move the groups of `table` (encoded key -> values), grouped by `buffer`, into the slots of their keys."""
        sorted_data = [create_OutputStream() for _ in range(KEY_SLOTS)]
        while table:
            key, values = table.popitem()
            slot = hash(key) % KEY_SLOTS
            encode_input(buffer, key, values, sorted_data[slot])
            if sorted_data[slot].size() >= SLOT_PIECE_BYTES:
                self._gather(slot, sorted_data[slot].get())
                sorted_data[slot] = create_OutputStream()
        for slot, elements in enumerate(sorted_data):
            self._gather(slot, elements.get())

    def _gather(self, slot: int, elements) -> None:
        with self._gathering:
            gathered = self._gathered[slot]
            gathered += elements
            if len(gathered) < SLOT_PIECE_BYTES:
                return
            self._gathered[slot] = bytearray()
        self.pieces[slot].append(Spilled.put(self.file, gathered))

    def take(self, other: _KeySlots) -> None:
        """Add the slots of `other` to these, pieces as they are (each piece keeps its own file)."""
        for slot in range(KEY_SLOTS):
            self.pieces[slot] += other.pieces[slot]
            self._gather(slot, other._gathered[slot])

    def read(self, buffer, slot: int, table: defaultdict) -> defaultdict:
        """`table` (encoded key -> values) with the elements of `slot` grouped in; the last slot read frees the file."""
        for data in itertools.chain(map(read_back, self.pieces[slot]), [bytes(self._gathered[slot])]):
            for key, value, _ in input_elements(buffer, data):
                table[key].append(value)
        self.pieces[slot], self._gathered[slot] = [], bytearray()
        with self._gathering:
            self._unread -= 1
            if not self._unread:
                self.file.clear()
        return table


def _key_slots(buffer) -> _KeySlots:
    """The key slots of a grouping buffer, opened on first use."""
    with _opening:
        if getattr(buffer, "key_slots", None) is None:
            buffer.key_slots = _KeySlots()
        return buffer.key_slots


# Groupings that grouped input in memory, below the threshold, and have not been read yet.
_held_groupings: weakref.WeakSet = weakref.WeakSet()
MOVE_ABOVE_BYTES = 32 << 20  # the least input a grouping held in memory was given to be moved to disk


def move_held_groups_to_disk() -> None:
    """Past the threshold, move the groups that groupings not yet read decoded in memory, below it,
    to their key slots (those given at least `MOVE_ABOVE_BYTES`). Only while no thread appends to them."""
    if not _threshold.reached():
        return
    for buffer in list(_held_groupings):
        if not buffer._grouped_output and getattr(buffer, "table_bytes", 0) >= MOVE_ABOVE_BYTES:
            _held_groupings.discard(buffer)
            _key_slots(buffer).add_groups(buffer, buffer._table)
            buffer.table_bytes = 0


def _spill_held_groupings() -> None:
    """Move held groups to disk after each bundle the runner executes, a stage or part of one: a grouping
    filled early waits decoded for its reading stage (at 300,000 stories the 958 MB shuffle into
    `StoryNodes/AttachGroup/CoGroup`, begun in one of the first stages, through most of the run).
    Between bundles no thread appends to a grouping."""
    execute_bundle = fn_runner.FnApiRunner._execute_bundle

    @functools.wraps(execute_bundle)
    def execute_bundle_and_spill(self, *args, **kwargs):
        result = execute_bundle(self, *args, **kwargs)
        move_held_groups_to_disk()
        return result

    fn_runner.FnApiRunner._execute_bundle = execute_bundle_and_spill


def _spill_groupings() -> None:
    append, extend, partition = (
        execution.GroupingBuffer.append, execution.GroupingBuffer.extend, execution.GroupingBuffer.partition
    )

    @functools.wraps(append)
    def group_or_keep(self, elements_data: bytes) -> None:
        if self._grouped_output or not self._windowing.is_default():
            return append(self, elements_data)
        piece = _hand_over.take(elements_data)
        if piece is not None:  # already on disk: kept as it is, decoded when read
            with _opening:
                if getattr(self, "encoded_input", None) is None:
                    self.encoded_input = []
            self.encoded_input.append(piece)
        elif _threshold.reached():
            _key_slots(self).add(self, elements_data)
        else:
            append(self, elements_data)
            self.table_bytes = getattr(self, "table_bytes", 0) + len(elements_data)
            _held_groupings.add(self)

    def group_kept(self) -> None:
        """Decode the pieces kept as they were given into the grouping table."""
        kept, self.encoded_input = getattr(self, "encoded_input", None) or (), []
        for piece in kept:
            append(self, read_back(piece))

    @functools.wraps(extend)
    def extend_grouped(self, input_buffer) -> None:
        """Take in the input of another grouping of the same shuffle (the runner merges what each stage
        that writes to it produced): kept pieces and key slots as they are; decoded groups as Beam does."""
        if isinstance(input_buffer, execution.GroupingBuffer) and input_buffer is not self:
            kept, input_buffer.encoded_input = getattr(input_buffer, "encoded_input", None), []
            if kept:
                self.encoded_input = [*(getattr(self, "encoded_input", None) or ()), *kept]
            slots, input_buffer.key_slots = getattr(input_buffer, "key_slots", None), None
            if slots is not None:
                _key_slots(self).take(slots)
            _held_groupings.discard(input_buffer)
            if input_buffer._table:
                self.table_bytes = getattr(self, "table_bytes", 0) + getattr(input_buffer, "table_bytes", 0)
                _held_groupings.add(self)
        extend(self, input_buffer)

    @functools.wraps(partition)  # keeps `pipeline.engine`'s mark that pieces are sent in chunks
    def partition_grouped(self, n: int):
        if self._grouped_output:
            return self._grouped_output
        group_kept(self)
        slots = getattr(self, "key_slots", None)
        if slots is None:
            return partition(self, n)  # groups encoded as they are sent: none wait to be written here
        grouped = [[] for _ in range(KEY_SLOTS)]  # the keys grouped below the threshold, by slot
        for key in self._table:
            grouped[hash(key) % KEY_SLOTS].append(key)

        def groups_of(part: int):
            for slot in range(part, KEY_SLOTS, n):  # each part reads its own slots and pops its own keys
                table = defaultdict(list, ((key, self._table.pop(key)) for key in grouped[slot]))
                slots.read(self, slot, table)
                while table:
                    yield table.popitem()

        self._grouped_output = [ReadOnce(encoded_groups(self, groups_of(part))) for part in range(n)]
        return self._grouped_output

    def iterate_grouped(self):
        return map(read_back, itertools.chain(*self.partition(1)))

    execution.GroupingBuffer.append = group_or_keep
    execution.GroupingBuffer.extend = extend_grouped
    execution.GroupingBuffer.partition = partition_grouped
    execution.GroupingBuffer.__iter__ = iterate_grouped


def _spill_list_buffers() -> None:
    append, partition, clear = execution.ListBuffer.append, execution.ListBuffer.partition, execution.ListBuffer.clear

    def append_kept(self, element: bytes) -> None:
        append(self, _kept(self, element))

    @functools.wraps(partition)
    def partition_read(self, n: int):
        if not 0 < len(self._inputs) < n:
            return partition(self, n)  # pieces of the list as they are: positions
        kept = self._inputs  # fewer pieces than parts: Beam re-encodes them element by element
        self._inputs = [read_back(piece) for piece in kept]
        try:
            return partition(self, n)
        finally:
            self._inputs = kept

    def iterate_read(self):
        if self.cleared:
            raise RuntimeError("Trying to iterate through a cleared ListBuffer.")
        return map(read_back, self._inputs)

    def clear_and_release(self) -> None:
        clear(self)
        self.spill_file = None  # closed once no copy of this buffer holds a piece of it

    execution.ListBuffer.append = append_kept
    execution.ListBuffer.partition = partition_read
    execution.ListBuffer.__iter__ = iterate_read
    execution.ListBuffer.clear = clear_and_release


def _send_spilled_input() -> None:
    send = fn_runner.BundleManager._send_input_to_worker

    @functools.wraps(send)
    def send_spilled(self, process_bundle_id: str, read_transform_id: str, byte_streams) -> None:
        if not isinstance(self._worker_handler.data_conn, InMemoryDataChannel):
            byte_streams = map(read_back, byte_streams or ())  # a process of its own gets the bytes
        send(self, process_bundle_id, read_transform_id, byte_streams)

    fn_runner.BundleManager._send_input_to_worker = send_spilled


def read_back(piece: Spilled | bytes) -> bytes:
    """The bytes of a piece a buffer kept, spilled or not."""
    return piece.read() if isinstance(piece, Spilled) else piece
