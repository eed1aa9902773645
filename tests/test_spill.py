"""The local engine's disk-backed data (`pipeline.spill`): what it keeps out of memory, and that every
reader still gets exactly what was written."""
from __future__ import annotations

import itertools
import os
import threading

import apache_beam as beam
import pytest
from apache_beam import coders
from apache_beam.coders.coder_impl import create_InputStream
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.runners.worker.data_plane import InMemoryDataChannel
from apache_beam.testing.util import assert_that, equal_to

from pipeline import groups as grouping
from pipeline import spill
from pipeline.engine import local_engine
from pipeline.options import SPILL_ABOVE_MIB
from pipeline.spill import Spilled, SpillFile, _threshold, move_held_groups_to_disk, spill_to_disk
from tests.test_runners import _decoded, _grouping_buffer, _grouping_input


@pytest.fixture(autouse=True)
def spill_everything():
    """Every test here spills from the first byte, as a run past its --spill_above_mib does."""
    local_engine(PipelineOptions(["--spill_above_mib=0"]))  # installs the engine's patches, then the spilling
    yield
    spill_to_disk(SPILL_ABOVE_MIB)


def _decoded_input(pieces: list[bytes]) -> dict[bytes, list[bytes]]:
    """The (key, value) elements of a grouping's input pieces, by key."""
    impl, elements = _grouping_buffer({})._pre_grouped_coder.get_impl(), {}
    for piece in pieces:
        stream = create_InputStream(piece)
        while stream.size() > 0:
            key, value = impl.decode_from_stream(stream, True).value
            elements.setdefault(key, []).append(value)
    return elements


def _open_size(spill: SpillFile) -> int:
    return os.fstat(spill._fd).st_size


def test_a_spill_file_gives_back_what_was_put_at_each_position_and_empties_on_clear():
    spill = SpillFile()
    pieces = [b"", b"a" * 10, bytes(range(256)) * 4000, b"z"]
    positions = [spill.put(piece) for piece in pieces]
    assert [spill.get(*at) for at in reversed(positions)] == pieces[::-1]
    assert spill.size == _open_size(spill) == sum(map(len, pieces))
    spill.clear()
    assert spill.size == _open_size(spill) == 0
    assert Spilled.put(spill, b"again").read() == b"again"


def _from_threads(work, threads: int = 4) -> None:
    started = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()


def test_threads_appending_to_one_spill_file_each_get_their_own_bytes_back():
    # The runner reads each worker's outputs in a thread of its own, into the same buffers: appends
    # whose writes overlapped once gave 3 of 400 pieces another's bytes (1,000,000 stories failed so).
    spill, kept = SpillFile(), {}

    def append(t):
        kept[t] = [(Spilled.put(spill, bytes([t]) * (1 << 20) + i.to_bytes(4, "big")), i) for i in range(100)]

    _from_threads(append)
    assert all(piece.read() == bytes([t]) * (1 << 20) + i.to_bytes(4, "big") for t in kept for piece, i in kept[t])
    assert spill.size == _open_size(spill) == 4 * 100 * ((1 << 20) + 4)


def test_threads_appending_to_one_grouping_lose_nothing():
    buffers = [_grouping_buffer({}) for _ in range(50)]
    groups = {b"t%d-%03d" % (t, i): [bytes([t]) * 1000] for t in range(4) for i in range(200)}
    encoded = _grouping_input(groups)  # one piece per element

    def append(t):
        for buffer in buffers:  # every thread's first append of a buffer races to open its key slots
            for piece in encoded[t * 200:(t + 1) * 200]:
                buffer.append(piece)

    _from_threads(append)
    assert all(_decoded(list(buffer)) == groups for buffer in buffers)


def test_the_in_memory_channel_queues_positions_and_reads_the_bytes_back_in_order():
    runner_side = InMemoryDataChannel()
    worker_side = runner_side.inverse()
    kept = Spilled.put(SpillFile(), b"kept elsewhere")
    out = runner_side.output_stream("bundle", "read")
    for piece in (b"a" * (6 << 20), b"b" * (6 << 20), b"c", kept, b"d"):
        out.write(piece)
        out.maybe_flush()
    out.close()
    other = runner_side.output_stream("next bundle", "read")
    other.write(b"later")
    other.close()
    queued = worker_side._inputs
    assert all(isinstance(message.data, Spilled) for message in queued)  # no bytes held in memory
    assert queued[2].data is kept  # a spilled piece goes on as it is, after the bytes before it
    files = worker_side.bundle_files
    assert files["bundle"].size == 12 * (1 << 20) + 2 and files["next bundle"].size == 5  # a file per bundle
    read = list(worker_side.input_elements("bundle", ["read"]))
    assert [message.data for message in read] == [b"a" * (6 << 20) + b"b" * (6 << 20), b"c", b"kept elsewhere", b"d"]
    assert {message.transform_id for message in read} == {"read"}
    assert list(files) == ["next bundle"]  # read: the file goes once nothing holds a piece of it
    assert [message.data for message in worker_side.input_elements("next bundle", ["read"])] == [b"later"]
    assert worker_side._inputs == [] and not files


def test_a_buffer_given_the_bytes_of_the_message_being_read_keeps_that_piece_instead_of_writing_them_again():
    runner_side = InMemoryDataChannel()
    out = runner_side.inverse().output_stream("bundle", "output")
    out.write(b"same size 1")
    out.flush()
    out.write(b"same size 2")
    out.close()
    sent = [message.data for message in runner_side._inputs]
    buffer = execution.ListBuffer(None)
    for message in runner_side.input_elements("bundle", ["output"]):
        buffer.append(message.data if message.data.endswith(b"1") else b"same size 3")
    assert buffer._inputs[0] is sent[0]  # handed over: nothing written
    assert buffer._inputs[1] is not sent[1] and buffer.spill_file.size == 11  # other bytes: written
    assert list(buffer) == [b"same size 1", b"same size 3"]


def test_a_grouping_sorts_its_input_on_disk_by_key_slot_and_its_reader_decodes_one_slot_at_a_time(monkeypatch):
    monkeypatch.setattr(spill, "SLOT_PIECE_BYTES", 256)
    monkeypatch.setattr(grouping, "CHUNK_BYTES", 1)  # a piece per group: the test sees each as it is read
    groups = {b"k%03d" % i: [bytes([i]) * 100, b"x" * (i % 5)] for i in range(200)}
    buffer = _grouping_buffer(groups)
    slots = buffer.key_slots
    assert not buffer._table and slots.file.size > 200 * 100 // 2  # nothing decoded, most of it on disk
    for slot, pieces in enumerate(slots.pieces):
        in_slot = _decoded_input([piece.read() for piece in pieces])
        assert {hash(key) % spill.KEY_SLOTS for key in in_slot} <= {slot}  # every element in its key's slot
    written = [list(pieces) for pieces in slots.pieces]
    lazy = buffer.partition(2)
    reading = iter(lazy[0])
    first = next(reading)
    assert slots.pieces[0] == [] and slots.pieces[1:] == written[1:]  # the first group: one slot read
    parts = [first, *reading, *lazy[1]]
    assert _decoded(parts) == groups  # every group whole, each once
    assert slots.file.size == 0  # every slot read: the file is emptied


def test_groups_begun_below_the_threshold_and_continued_past_it_come_out_whole():
    spill_to_disk(-1)
    buffer = _grouping_buffer({b"a": [b"1"], b"b": [b"2"]})
    assert len(buffer._table) == 2
    spill_to_disk(0)
    for piece in _grouping_input({b"a": [b"3"], b"c": [b"4"], b"b": [b"5", b"6"]}):
        buffer.append(piece)
    assert len(buffer._table) == 2  # the later input went to the key slots
    grouped = _decoded([piece for part in buffer.partition(3) for piece in part])
    assert {key: sorted(values) for key, values in grouped.items()} == {b"a": [b"1", b"3"], b"b": [b"2", b"5", b"6"],
                                                                         b"c": [b"4"]}
    assert not buffer._table


def test_below_the_threshold_a_grouping_groups_its_input_as_it_comes():
    spill_to_disk(-1)
    buffer = _grouping_buffer({b"a": [b"1", b"2"], b"b": [b"3"]})
    assert len(buffer._table) == 2 and getattr(buffer, "spill_file", None) is None
    assert _decoded(list(buffer)) == {b"a": [b"1", b"2"], b"b": [b"3"]}


def test_past_the_threshold_groups_held_in_memory_move_to_their_key_slots_between_stages(monkeypatch):
    monkeypatch.setattr(spill, "MOVE_ABOVE_BYTES", 1000)
    monkeypatch.setattr(spill, "SLOT_PIECE_BYTES", 256)
    spill_to_disk(-1)
    groups = {b"k%03d" % i: [bytes([i]) * 100, b"x" * (i % 5)] for i in range(200)}
    held, small = _grouping_buffer(groups), _grouping_buffer({b"a": [b"1"]})
    move_held_groups_to_disk()
    assert len(held._table) == 200  # below the threshold: left decoded in memory
    spill_to_disk(0)
    move_held_groups_to_disk()
    assert not held._table and held.key_slots.file.size > 0  # moved to disk
    assert len(small._table) == 1 and getattr(small, "key_slots", None) is None  # too small to be worth moving
    for piece in _grouping_input({b"k007": [b"later"], b"new": [b"n"]}):
        held.append(piece)
    grouped = _decoded([piece for part in held.partition(2) for piece in part])
    expected = {**groups, b"k007": [*groups[b"k007"], b"later"], b"new": [b"n"]}
    assert {key: sorted(values) for key, values in grouped.items()} == {k: sorted(v) for k, v in expected.items()}


def test_a_batch_pipeline_whose_memory_crosses_the_threshold_back_and_forth_loses_nothing(monkeypatch):
    # Every other look finds the threshold reached: groupings get input both ways, and held ones move.
    looks = itertools.count()
    monkeypatch.setattr(spill._Threshold, "reached", lambda self: next(looks) % 2 == 1)
    monkeypatch.setattr(spill, "MOVE_ABOVE_BYTES", 1)
    monkeypatch.setattr(spill, "SLOT_PIECE_BYTES", 64)
    for mode in ("in_memory", "multi_processing"):
        _run_groupings_side_inputs_and_shared_outputs([f"--direct_running_mode={mode}", "--direct_num_workers=2"])


def test_groupings_of_one_shuffle_merge_their_key_slots_without_decoding_them(monkeypatch):
    # The runner merges the groupings that each stage writing to a shuffle filled (`extend`).
    monkeypatch.setattr(spill, "SLOT_PIECE_BYTES", 256)
    first = _grouping_buffer({b"k%03d" % i: [b"first"] * 3 for i in range(100)})
    spill_to_disk(-1)
    second = _grouping_buffer({b"k000": [b"held"], b"only held": [b"h"]})
    spill_to_disk(0)
    for piece in _grouping_input({b"k%03d" % i: [b"second"] for i in range(50, 150)}):
        second.append(piece)
    first.extend(second)
    assert second.key_slots is None and sum(map(len, first.key_slots.pieces)) > 0
    assert set(first._table) == {b"k000", b"only held"}  # only what was decoded already; the slots as they are
    grouped = _decoded([piece for part in first.partition(2) for piece in part])
    expected = {b"k%03d" % i: [b"first"] * 3 * (i < 100) + [b"second"] * (i >= 50) for i in range(150)}
    expected[b"k000"].append(b"held")
    expected[b"only held"] = [b"h"]
    assert {key: sorted(values) for key, values in grouped.items()} == {k: sorted(v) for k, v in expected.items()}


def test_a_materialised_pcollection_keeps_positions_and_every_copy_reads_the_bytes():
    buffer = execution.ListBuffer(None)
    for piece in (b"one", b"two", b"three"):
        buffer.append(piece)
    assert all(isinstance(piece, Spilled) for piece in buffer._inputs)
    copy = buffer.copy()
    assert list(buffer) == [b"one", b"two", b"three"]
    parts = buffer.partition(2)
    assert [[piece.read() for piece in part] for part in parts] == [[b"one", b"three"], [b"two"]]
    buffer.clear()
    assert buffer.spill_file is None
    assert list(copy) == [b"one", b"two", b"three"]  # a copy keeps the file it reads from
    # Fewer pieces than parts: Beam splits the elements of the pieces, read back, among the parts.
    impl = coders.BytesCoder().get_impl()
    single = execution.ListBuffer(impl)
    single.append(impl.encode_nested(b"first") + impl.encode_nested(b"second"))
    assert [[impl.decode_nested(piece) for piece in part] for part in single.partition(2)] == [[b"first"], [b"second"]]


def _run_groupings_side_inputs_and_shared_outputs(flags: list[str]) -> None:
    options = PipelineOptions(flags)
    with beam.Pipeline(runner=local_engine(options), options=options) as p:
        numbers = p | beam.Create(range(3000))
        total = numbers | beam.CombineGlobally(sum)
        grouped = (
            numbers
            | beam.Map(lambda i: (i % 7, bytes(i % 100)))
            | beam.GroupByKey()
            | beam.Map(lambda kv, total: (kv[0], len(list(kv[1])), total), total=beam.pvalue.AsSingleton(total))
        )
        shared = numbers | "Odd" >> beam.Filter(lambda i: i % 2)
        assert_that(grouped, equal_to([(k, len(range(k, 3000, 7)), sum(range(3000))) for k in range(7)]))
        assert_that(shared | beam.combiners.Count.Globally(), equal_to([1500]), label="Odds")
        assert_that(shared | "Max" >> beam.CombineGlobally(max), equal_to([2999]), label="Largest")


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_a_batch_pipeline_runs_through_the_spill_files_past_its_threshold_and_in_memory_below(mode, monkeypatch):
    written = []
    put = SpillFile.put
    monkeypatch.setattr(SpillFile, "put", lambda self, data: written.append(len(data)) or put(self, data))
    monkeypatch.setattr(spill, "SLOT_PIECE_BYTES", 1)  # a grouping's slots write what they are given at once
    flags = [f"--direct_running_mode={mode}", "--direct_num_workers=2"]
    _run_groupings_side_inputs_and_shared_outputs([*flags, "--spill_above_mib=0"])
    assert sum(written) > 3000  # the runner's side of both modes kept its data on disk
    written.clear()
    _run_groupings_side_inputs_and_shared_outputs([*flags, "--spill_above_mib=-1"])
    _run_groupings_side_inputs_and_shared_outputs([*flags, f"--spill_above_mib={1 << 30}"])
    assert written == []  # never, or a threshold not reached: all in memory, as Beam keeps it


def test_the_threshold_is_the_resident_memory_of_this_process():
    spill_to_disk(1)
    assert _threshold.reached()  # a Python process holds more than 1 MiB
    spill_to_disk(1 << 30)
    assert not _threshold.reached()
    spill_to_disk(-1)
    assert _threshold.above_bytes is None and not _threshold.reached()
