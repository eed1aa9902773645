"""The same pipeline on three runner set-ups gives byte-identical output (issue 8), and the local engine.

(a) DirectRunner in memory, (b) DirectRunner multi_processing with 2 workers, and (c) PortableRunner
submitting over gRPC to Beam's local job service, whose SDK workers are started by an external
worker pool in other processes: the path Flink's and Spark's job servers take.
"""
from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import apache_beam as beam
import pytest
from apache_beam import coders
from apache_beam.coders.coder_impl import create_InputStream
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.common import NameContext
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.runners.portability.fn_api_runner.fn_runner import BundleManager, FnApiRunner
from apache_beam.runners.portability.prism_runner import PrismRunner
from apache_beam.runners.worker.bundle_processor import DataOutputOperation
from apache_beam.runners.worker import data_plane, sdk_worker, statesampler
from apache_beam.runners.worker.data_plane import ClosableOutputStream, InMemoryDataChannel
from apache_beam.runners.worker.statesampler import StateSampler
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core, userstate, window
from apache_beam.utils.counters import CounterFactory

from pipeline import engine
from pipeline import groups as grouping
from pipeline.engine import (
    SAMPLING_PERIOD_MS,
    GroupingFnApiRunner,
    _InputSender,
    free_heap_pages,
    local_engine,
    release_output_streams,
    send_stage_input_in_chunks,
)
from pipeline.groups import CHUNK_BYTES
from pipeline.run import run
from tests.conftest import REJECTS, REPO, SAMPLE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {port}")


@pytest.fixture(scope="module")
def portable_services(tmp_path_factory):
    """Beam's local job service and an external worker pool, each in its own process."""
    logs = tmp_path_factory.mktemp("services")
    # The pool starts SDK workers with `python`: it must be this interpreter, with our code importable.
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
           "PYTHONPATH": str(REPO)}
    job_port, pool_port = _free_port(), _free_port()
    commands = [
        ([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", "--port", str(job_port)], job_port),
        ([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", str(pool_port)], pool_port),
    ]
    processes = []
    try:
        for index, (command, port) in enumerate(commands):
            log = open(logs / f"service{index}.log", "wb")  # noqa: SIM115 - closed with the process
            processes.append((subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=log), log))
            _wait_for_port(port, processes[-1][0])
        yield job_port, pool_port
    finally:
        for process, log in processes:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def _outputs(directory) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.jsonl"))}


def test_direct_multiprocessing_and_portable_runners_give_identical_output(tmp_path, portable_services):
    job_port, pool_port = portable_services
    inputs = ["--input", str(SAMPLE), "--input", str(REJECTS)]
    reports = {
        "direct": run([*inputs, "--output", str(tmp_path / "direct")]),
        "multiprocessing": run([*inputs, "--output", str(tmp_path / "multiprocessing"),
                                "--direct_running_mode=multi_processing", "--direct_num_workers=2"]),
        "portable": run([*inputs, "--output", str(tmp_path / "portable"), "--runner=PortableRunner",
                         f"--job_endpoint=localhost:{job_port}", "--environment_type=EXTERNAL",
                         f"--environment_config=localhost:{pool_port}"]),
    }
    direct = _outputs(tmp_path / "direct")
    assert direct["stories-00000-of-00001.jsonl"] and direct["dead_letters-00000-of-00001.jsonl"]
    assert _outputs(tmp_path / "multiprocessing") == direct
    assert _outputs(tmp_path / "portable") == direct
    # Accounting comes from the data, stage figures from Beam Metrics: both survive every runner.
    for report in reports.values():
        assert report["accounting"] == reports["direct"]["accounting"]
        assert report["tiers"]["story"]["candidate_pairs"] == reports["direct"]["tiers"]["story"]["candidate_pairs"] > 0


def test_the_direct_runner_runs_the_job_offline_without_offering_it_to_prism(tmp_path, monkeypatch):
    """Beam's DirectRunner would first try Prism, downloading its binary from GitHub: a run must not."""
    offered, looked_up = [], []
    monkeypatch.setattr(PrismRunner, "run_pipeline", lambda self, pipeline, options: offered.append(pipeline))

    def no_remote_lookups(host, *args, **kwargs):
        if host not in ("localhost", "127.0.0.1", "::1", None):
            looked_up.append(host)
            raise socket.gaierror(f"no network in this test: {host}")
        return resolve(host, *args, **kwargs)

    resolve = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", no_remote_lookups)
    report = run(["--input", str(SAMPLE), "--output", str(tmp_path)])
    assert offered == [] and looked_up == []
    assert report["accounting"]["records_read"] > 0 and (tmp_path / "stories-00000-of-00001.jsonl").stat().st_size


@pytest.mark.parametrize("flags, pubsub, engine", [
    ([], False, FnApiRunner),
    (["--runner=DirectRunner", "--direct_running_mode=multi_processing"], False, FnApiRunner),
    (["--runner=direct"], True, BundleBasedDirectRunner),
    (["--runner=PrismRunner"], False, None),
    (["--runner=PortableRunner"], False, None),
])
def test_local_engine_is_the_direct_runners_fallback_and_leaves_other_runners_to_beam(flags, pubsub, engine):
    chosen = local_engine(PipelineOptions(flags), pubsub=pubsub)
    assert chosen is None if engine is None else isinstance(chosen, engine)


def test_a_reset_data_output_lets_go_of_its_finished_stream():
    counter_factory = CounterFactory()
    output = DataOutputOperation(
        NameContext("out", "out"), "out", {}, counter_factory, StateSampler("test", counter_factory),
        coders.WindowedValueCoder(coders.BytesCoder()), "out", lambda _: None,
    )
    local_engine(PipelineOptions([]))
    installed = DataOutputOperation.reset
    release_output_streams()
    assert DataOutputOperation.reset is installed  # installed once, never wrapped twice
    stream = ClosableOutputStream()
    stream.write(b"x" * (1 << 20))
    output.set_output_stream(stream)
    output.reset()
    assert output.output_stream is None


def _joins(p):
    names = p | "Names" >> beam.Create([(1, "a"), (2, "b"), (3, "c")])
    ages = p | "Ages" >> beam.Create([(1, 30), (1, 31), (3, 50)])
    joined = (
        {"name": names, "age": ages}
        | beam.CoGroupByKey()
        | "Sorted" >> beam.MapTuple(lambda k, v: (k, sorted(v["name"]), sorted(v["age"])))
    )
    assert_that(joined, equal_to([(1, ["a"], [30, 31]), (2, ["b"], []), (3, ["c"], [50])]), label="Joined")
    # A Flatten whose output is not grouped stays a stage of its own.
    keys = (names | "NameKeys" >> beam.Keys(), ages | "AgeKeys" >> beam.Keys()) | "AllKeys" >> beam.Flatten()
    assert_that(keys | "Double" >> beam.Map(lambda k: 2 * k), equal_to([2, 4, 6, 2, 2, 6]), label="Flat")


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_a_flatten_feeding_a_grouping_is_written_straight_into_it(mode):
    options = PipelineOptions([f"--direct_running_mode={mode}", "--direct_num_workers=2"])
    p = beam.Pipeline(runner=local_engine(options), options=options)
    _joins(p)
    _, stages = p.runner.create_stages(p.to_runner_api())
    _, beams_stages = FnApiRunner().create_stages(p.to_runner_api())
    def flatten_reads(stages):
        return {name for s in stages for name in ("CoGroupByKeyImpl/Flatten/Read", "AllKeys/Read") if name in s.name}

    assert flatten_reads(beams_stages) == {"CoGroupByKeyImpl/Flatten/Read", "AllKeys/Read"}
    assert flatten_reads(stages) == {"AllKeys/Read"}
    assert len(stages) < len(beams_stages)
    assert isinstance(p.runner, GroupingFnApiRunner)
    p.run().wait_until_finish()  # the assertions above run in the pipeline


_KV = coders.WindowedValueCoder(coders.TupleCoder([coders.BytesCoder(), coders.BytesCoder()]))


def _grouping_input(groups: dict[bytes, list[bytes]]) -> list[bytes]:
    """The elements of `groups` encoded as a grouping's input, one piece per key."""
    impl = _KV.get_impl()
    return [b"".join(impl.encode_nested(window.GlobalWindows.windowed_value((key, v))) for v in values)
            for key, values in groups.items()]


def _grouping_buffer(groups: dict[bytes, list[bytes]]):
    grouped = coders.TupleCoder([coders.BytesCoder(), coders.IterableCoder(coders.BytesCoder())])
    buffer = execution.GroupingBuffer(_KV, coders.WindowedValueCoder(grouped), core.Windowing(window.GlobalWindows()))
    for piece in _grouping_input(groups):
        buffer.append(piece)
    return buffer


def _decoded(pieces: list[bytes]) -> dict[bytes, list[bytes]]:
    impl = coders.WindowedValueCoder(
        coders.TupleCoder([coders.BytesCoder(), coders.IterableCoder(coders.BytesCoder())])
    ).get_impl()
    groups = {}
    for piece in pieces:
        stream = create_InputStream(piece)
        while stream.size() > 0:
            key, values = impl.decode_from_stream(stream, True).value
            assert key not in groups  # a group is never split between pieces
            groups[key] = list(values)
    return groups


def test_a_grouping_is_encoded_in_pieces_of_whole_groups_and_lets_go_of_each_once_encoded():
    # Small groups first, then large ones: pieces are bounded in bytes, however group sizes change.
    groups = {b"s%05d" % i: [b"x" * (i % 7)] for i in range(20_000)}
    groups.update({b"k%05d" % i: [bytes([i % 251]) * 1000, b"x" * (i % 7)] for i in range(3 * CHUNK_BYTES // 1000)})
    local_engine(PipelineOptions([]))
    installed = execution.GroupingBuffer.partition
    send_stage_input_in_chunks()
    assert execution.GroupingBuffer.partition is installed  # installed once, never wrapped twice
    buffer = _grouping_buffer(groups)
    lazy = buffer.partition(2)
    reading = iter(lazy[0])
    first = next(reading)
    assert 0 < len(groups) - len(buffer._table) < len(groups) // 2  # encoded as read: one piece of one part
    parts = [[first, *reading], list(lazy[1])]
    assert not buffer._table  # every group dropped once encoded
    with pytest.raises(RuntimeError, match="read already"):
        list(lazy[1])  # a second reader would find no groups: it fails instead
    assert all(2 <= len(part) <= 4 for part in parts)  # ~1.5 * CHUNK_BYTES each, in pieces of about CHUNK_BYTES
    assert all(len(piece) <= CHUNK_BYTES + 1100 for part in parts for piece in part)  # + at most one group
    assert _decoded([piece for part in parts for piece in part]) == groups
    assert buffer.partition(2) is buffer.partition(2)  # partitioned once, as Beam's
    assert _decoded(list(_grouping_buffer({}))) == {} and len(_grouping_buffer({}).partition(3)) == 3


def test_a_stage_input_goes_to_the_worker_in_messages_of_whole_byte_streams():
    local_engine(PipelineOptions([]))
    channel = InMemoryDataChannel()
    manager = SimpleNamespace(_worker_handler=SimpleNamespace(data_conn=channel))
    streams = [b"a" * (6 << 20), b"b" * (6 << 20), b"c", b"d" * (12 << 20)]
    BundleManager._send_input_to_worker(manager, "bundle", "read", streams)
    sent = [message.data for message in channel.inverse().input_elements("bundle", ["read"])]
    assert sent == [streams[0] + streams[1], streams[2] + streams[3]]  # flushed past 10 MiB


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_a_stage_input_larger_than_a_data_message_reaches_the_worker_whole(mode):
    options = PipelineOptions([f"--direct_running_mode={mode}", "--direct_num_workers=2"])
    p = beam.Pipeline(runner=local_engine(options), options=options)
    sizes = (
        p
        | beam.Create(range(4000))
        | beam.Map(lambda i: (i % 1000, bytes(8000)))  # 32 MB into one grouping: pieces of both kinds
        | beam.GroupByKey()
        | beam.MapTuple(lambda key, values: (key, sum(len(v) for v in values)))
    )
    assert_that(sizes, equal_to([(key, 32000) for key in range(1000)]))
    p.run().wait_until_finish()


def test_a_stage_input_larger_than_the_data_planes_queues_reaches_a_grpc_worker(monkeypatch):
    # A gRPC worker queues a few messages of a bundle it has not been told to start, and the runner
    # ~100 MB before it waits (1,000,000 stories hung so). Here one message each, and messages and
    # pieces of 64 KiB instead of 10 and 8 MiB: the input waits forever unless it is sent while the
    # bundle runs.
    monkeypatch.setattr(data_plane, "_DEFAULT_SEND_QUEUE_MAX_BYTES", 1)
    monkeypatch.setattr(data_plane, "_DEFAULT_RECEIVE_QUEUE_MAX_ELEMENTS", 1)
    for stream in (data_plane.SizeBasedBufferingClosableOutputStream, data_plane.TimeBasedBufferingClosableOutputStream):
        defaults = stream.__init__.__defaults__  # (close_callback, flush_callback, size_flush_threshold, ...)
        monkeypatch.setattr(stream.__init__, "__defaults__", defaults[:2] + (64 << 10,) + defaults[3:])
    monkeypatch.setattr(grouping, "CHUNK_BYTES", 64 << 10)
    options = PipelineOptions(["--direct_running_mode=multi_threading", "--direct_num_workers=1"])
    p = beam.Pipeline(runner=local_engine(options), options=options)
    sizes = (
        p
        | beam.Create(range(10_000))
        | beam.Map(lambda i: (i % 100, bytes(10_000)))
        | beam.GroupByKey()
        | beam.MapTuple(lambda key, values: (key, sum(len(v) for v in values)))
    )
    assert_that(sizes, equal_to([(key, 1_000_000) for key in range(100)]))
    finished = threading.Thread(target=lambda: p.run().wait_until_finish(), daemon=True)
    finished.start()
    finished.join(timeout=120)
    assert not finished.is_alive()


def test_the_engines_state_samplers_sample_every_few_ms_and_still_time_each_step():
    local_engine(PipelineOptions([]))
    installed = statesampler.StateSampler
    engine.sample_state_promptly()
    assert statesampler.StateSampler is installed  # installed once, never subclassed twice
    sampler = statesampler.StateSampler("stage", CounterFactory())
    assert sampler.sampling_period_ms == SAMPLING_PERIOD_MS
    step = sampler.scoped_state("step", "process")
    sampler.start()
    with step:
        time.sleep(0.2)
    sampler.stop()
    assert 0.1e9 < step.nsecs < 1e9  # the msec counters still see the step's time


class _Stateful(beam.DoFn):
    COUNT = userstate.CombiningValueStateSpec("count", sum)
    FLUSH = userstate.TimerSpec("flush", userstate.TimeDomain.WATERMARK)

    def process(self, element, count=beam.DoFn.StateParam(COUNT), flush=beam.DoFn.TimerParam(FLUSH)):
        yield element

    @userstate.on_timer(FLUSH)
    def flushed(self):
        yield 0


class _TimerWithoutCallback(beam.DoFn):
    def process(self, element, flush=beam.DoFn.TimerParam(userstate.TimerSpec("t", userstate.TimeDomain.WATERMARK))):
        yield element


def test_each_dofns_state_and_timer_specs_are_found_once_and_still_checked():
    local_engine(PipelineOptions([]))
    installed = userstate.get_dofn_specs
    engine.cache_dofn_specs()
    assert userstate.get_dofn_specs is installed and installed.cached  # installed once, never wrapped twice
    uncached = installed.__wrapped__
    for dofn in (_Stateful(), beam.Map(len).fn, _TimerWithoutCallback()):
        first = userstate.get_dofn_specs(dofn)
        assert first == uncached(dofn)
        first[0].clear()  # each caller's sets are its own
        assert userstate.get_dofn_specs(dofn) == uncached(dofn)
    assert userstate.is_stateful_dofn(_Stateful()) and not userstate.is_stateful_dofn(beam.Map(len).fn)
    with pytest.raises(ValueError, match="without an associated on_timer"):
        beam.ParDo(_TimerWithoutCallback())


def _arguments_read(f):
    return core.get_function_args_defaults(f)


def test_each_functions_arguments_are_read_once_and_each_caller_gets_its_own():
    local_engine(PipelineOptions([]))
    installed = core.get_function_args_defaults
    engine.cache_function_arguments()
    assert core.get_function_args_defaults is installed and installed.cached
    uncached = installed.__wrapped__
    stateful = _Stateful()
    partial = functools.partial(_arguments_read)
    for f in (_arguments_read, lambda x, y=3: x, stateful.process, _Stateful.process, partial):
        first = installed(f)
        assert first == uncached(f)
        first[0].clear()  # each caller's lists are its own
        assert installed(f) == uncached(f)
    assert installed(stateful.process) != installed(_Stateful.process)  # bound: without self
    assert beam.ParDo(_Stateful()).fn.get_function_arguments("process") == uncached(stateful.process)


def _engine_in_worker(_):
    return os.getpid(), {
        "prompt_sampler": getattr(statesampler.StateSampler, "prompt", False),
        "specs_cached": getattr(userstate.get_dofn_specs, "cached", False),
        "arguments_cached": getattr(core.get_function_args_defaults, "cached", False),
        "streams_released": getattr(DataOutputOperation.reset, "releases_output_stream", False),
        "trims_after_bundles": getattr(sdk_worker.SdkWorker.process_bundle, "releases_free_memory", False),
    }


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_every_worker_of_the_local_engine_has_the_engines_changes(mode):
    options = PipelineOptions([f"--direct_running_mode={mode}", "--direct_num_workers=2"])
    p = beam.Pipeline(runner=local_engine(options), options=options)
    seen = p | beam.Create([0, 1, 2, 3]) | beam.Map(_engine_in_worker) | beam.combiners.ToList()
    runner_pid = os.getpid()

    def check(found):
        (found,) = found
        for pid, changes in found:
            assert (pid == runner_pid) == (mode == "in_memory")  # else a worker of its own
            assert changes["prompt_sampler"] and changes["specs_cached"] and changes["arguments_cached"]
            assert changes["streams_released"]
            if mode == "multi_processing":  # in memory, the runner trims after each bundle (below)
                assert changes["trims_after_bundles"]

    assert_that(seen, check)
    p.run().wait_until_finish()


@pytest.mark.parametrize("flags, plugin", [([], "pipeline.batch_worker_plugin"), (["--streaming"], "pipeline.worker_plugin")])
def test_the_engine_hands_its_workers_the_plugin_for_the_kind_of_run(flags, plugin):
    runner = local_engine(PipelineOptions([*flags, "--beam_plugins=my.plugin"]))
    handed = runner._provision_info.provision_info.pipeline_options
    assert list(handed["beam:option:beam_plugins:v1"]) == ["my.plugin", plugin]  # the user's kept


def test_a_batch_run_hands_free_memory_back_after_every_stage_and_a_streaming_one_does_not():
    held = [bytearray(64 << 10) for _ in range(1024)]  # heap blocks (below glibc's mmap threshold)
    del held[::2]  # 32 MiB free between blocks still in use: only a trim hands it back
    assert free_heap_pages(at_least=1 << 60)() is False  # less free than that: no trim
    assert free_heap_pages(at_least=16 << 20)() is True  # trimmed, and pages went back
    assert local_engine(PipelineOptions([])).release_free_memory is not None
    assert local_engine(PipelineOptions(["--streaming"])).release_free_memory is None
    calls = []
    p = beam.Pipeline(runner=GroupingFnApiRunner(release_free_memory=lambda: calls.append(1)))
    _joins(p)
    _, stages = p.runner.create_stages(p.to_runner_api())
    p.run().wait_until_finish()
    assert len(calls) >= len(stages)  # every stage's bundle, and any bundle a stage reruns


def test_a_worker_of_its_own_hands_free_memory_back_after_every_bundle(monkeypatch):
    # What `pipeline.batch_worker_plugin` installs there, installed here on the in-process worker.
    monkeypatch.setattr(sdk_worker.SdkWorker, "process_bundle", sdk_worker.SdkWorker.process_bundle)  # restored after
    worker_calls, runner_calls = [], []
    engine.release_free_memory_after_bundles(lambda: worker_calls.append(1))
    engine.release_free_memory_after_bundles(lambda: worker_calls.append(2))  # installed once: ignored
    p = beam.Pipeline(runner=GroupingFnApiRunner(release_free_memory=lambda: runner_calls.append(1)))
    _joins(p)
    p.run().wait_until_finish()
    assert worker_calls == runner_calls  # once after each bundle, as the runner does


def test_input_sent_while_the_runners_periodic_flush_runs_loses_no_piece():
    # The runner's gRPC output streams also flush every second from a thread of their own: that flush
    # takes the buffer, hands it on (waiting while the send queue is full) and only then empties the
    # buffer, and `write` takes no lock. A piece written meanwhile was emptied with it, never sent:
    # multi_processing lost ~1 % of a shuffle's keys at 100,000 stories once spilling slowed the sender.
    sent = []

    def send(data: bytes) -> None:
        time.sleep(0.002)  # a full send queue
        sent.append(data)

    stream = ClosableOutputStream.create(send, send, 1)  # a periodic flush every millisecond
    pieces = [bytes([i]) * 1000 for i in range(200)]

    def slowly(pieces):  # as a spilled piece is read back from disk
        for piece in pieces:
            time.sleep(0.0005)
            yield piece

    sender = _InputSender(stream, slowly(pieces))
    sender.start()
    sender.join()
    assert b"".join(sent) == b"".join(pieces)
