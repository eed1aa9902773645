"""The engine behind `--runner DirectRunner` (the default), chosen up front.

Beam's DirectRunner first offers every pipeline to Prism, a Go runner whose binary it downloads
from GitHub on first use, and only falls back to its Python engines when that fails. That is a
network fetch at run time, which this product must not make: offline machines pay a failed
download and one more translation of the whole graph on every run (~0.5 s), and online ones
silently switch to an engine none of our tests run. So when the runner is left at DirectRunner we
make the DirectRunner's own fallback choice directly: the FnApiRunner, which reads
`--direct_running_mode` and `--direct_num_workers` itself, or, for Pub/Sub, which the FnApiRunner
cannot read or write, the BundleBasedDirectRunner. Any other `--runner`, PrismRunner included,
is Beam's to resolve.

The FnApiRunner's in-process worker also keeps every finished bundle processor for reuse, and with
it each data output's stream at the capacity it grew to (the stream flushes at 10 MiB, so up to
16 MiB each). A batch graph runs each of its ~80 stages once, so that reuse never comes and the
buffers are dead weight: 998 -> 659 MiB peak RSS at 20,000 generated stories. Each bundle opens
a new stream for every output before it starts, so the engine drops the old one when the
processor is reset (`release_output_streams`).

The runner also hands each stage its input as one piece. A grouping buffer encodes all its groups
into a single stream and only then frees the decoded table, and the runner copies every input
stream it sends into one message before the bundle starts: at the peak stage of a 100,000-story run
that is the shuffle's data held three and four times over, in allocations of hundreds of MiB. The
engine has groupings encode (and drop) their groups a few MiB at a time and sends every stage's
input as messages of about 10 MiB, each holding whole elements, as a runner on a cluster streams
it (`send_stage_input_in_chunks`): peak RSS 2.33-2.46 -> 1.77-1.80 GiB at 100,000 generated stories,
with no loss of speed and the same output. A worker in a process of its own gets them while its
bundle runs, since it holds only a few messages of a bundle not yet started (`_InputSender`). The
groups are encoded as the sender reads them, so such a worker starts on the first piece while the
runner encodes the rest. Grouping and encoding each stage's input before sending any of it held
both workers idle for 8.5 s of a 100,000-story run in multi_processing mode; with the grouping done
as the data comes (`pipeline.spill`, below its threshold) and this, 1.6 s (90.2 -> 87.1 s end to
end, mean of two runs each, the same output).

Every multi-input Flatten is also a stage of its own on the FnApiRunner: its inputs are written to
one buffer, and a stage reads that buffer back, decoding every element, to write it on. In a
`CoGroupByKey` (each of our joins) the next write is the grouping, so that stage only decodes and
re-encodes everything the join carries: ~11 % of a 100,000-story run, and one more copy of the
join's inputs held at once. `GroupingFnApiRunner` has the Flatten's inputs write straight into the
grouping (`write_flattens_into_groupings`), which is what a Flatten is on a distributed runner.

Even in pieces, all of that is held in memory: every shuffle and every materialised PCollection
from the stage that writes it until the one that reads it, and in memory mode each stage's whole
input and output queued in the data channel, ~15 KiB a story in all. For a batch run the engine
keeps those bytes in temporary files instead once the process's resident memory reaches
`--spill_above_mib` (`pipeline.spill.spill_to_disk`).

A batch stage ends by freeing most of what it allocated (its decoded input, the grouped copy of
it), but glibc keeps freed memory in its heaps for reuse, and the next stage's allocations,
of other sizes, reuse it only in part: each stage's leftovers add to the peak. For a batch run
the engine hands free heap pages back to the system after every stage (`malloc_trim`; glibc
only, elsewhere nothing) once they hold 64 MiB or more of free memory: trimming after every
stage took peak RSS from 2.89 to 2.20 GiB at 100,000 generated stories and from 0.72-0.78 to
0.58-0.62 GiB at 20,000, but a trimmed page that is used again costs a fault, and small runs, which
gain little, paid 7-20 % more time. With the 64 MiB floor: 0.69 -> 0.60 GiB at 20,000 stories, and
5,000-story runs as fast as without (`free_heap_pages`). A streaming run executes many small
bundles and its memory is bounded by its state, so it is left alone.

Every bundle also ends by joining its state sampler's thread (it times the steps for Beam's msec
counters and the "operation ongoing" log), which sleeps in steps that grow from 2 to 200 ms and
cannot be woken: a bundle waits up to 200 ms after its last element, half that on average once it
ran a few seconds, and a batch graph runs ~80 bundles one after another. That wait was 0.46 s of a
5,000-story run and 2.0 s of a 30,000-story one. The engine's samplers wake every 2 ms instead
(`sample_state_promptly`), a lock and an addition each time, with no measurable CPU.

Building the graph, Beam looks for each DoFn's state and timer specs some six times (at `ParDo`,
at every `is_stateful_dofn`, at translation) and each time takes the signature of each of the
DoFn's ~40 methods. The engine keeps each DoFn's specs once found (`cache_dofn_specs`): in a
5,000-story in-memory run, 1,656 lookups took 1.4 s of 10.7; with the cache, 408 (the DoFns a worker
unpickles are new objects) take 0.34 s. Those 408, and the worker's own wrapping of every DoFn method
it calls, still read each method's signature; a method's arguments belong to its function, which the
class keeps, so the engine reads them once per function (`cache_function_arguments`): 16,010 reads
of a signature -> 415 in a 5,000-story run (9.1 -> 8.1 million Python calls; 9.73 -> 9.29 s, mean of
three side by side).

These changes (output streams, trimming, samplers, the specs and arguments kept) are made in this
process, the runner's, which is also the in-memory worker's. multi_processing mode starts each worker as a
process of its own (`sdk_worker_main`), which imports the modules named by Beam's `--beam_plugins`
before it takes any work: the engine names `pipeline.batch_worker_plugin` (`pipeline.worker_plugin`,
without trimming, for a streaming run), which makes them there. Releasing the streams and trimming
in the workers took each worker's peak RSS from 1.14 to 0.80 GiB at 100,000 generated stories in
multi_processing mode, and the whole run's (runner and workers together) from 3.37 to 2.71 GiB;
at 300,000, from 5.09 to 4.26 GiB, in as much time (262 and 266 s, one run each).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
import types
import weakref
from collections import defaultdict
from collections.abc import Iterable

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import execution, fn_runner, translations
from apache_beam.runners.runner import PipelineRunner
from apache_beam.runners.worker.bundle_processor import DATA_INPUT_URN, DATA_OUTPUT_URN, DataOutputOperation
from apache_beam.runners.worker import sdk_worker, statesampler
from apache_beam.runners.worker.data_plane import InMemoryDataChannel
from apache_beam.transforms import core, userstate

from pipeline.groups import ReadOnce, encoded_groups
from pipeline.options import DedupOptions
from pipeline.spill import spill_to_disk

_DIRECT_NAMES = {"direct", "directrunner", "apache_beam.runners.direct.direct_runner.directrunner"}


def local_engine(options: PipelineOptions, pubsub: bool = False) -> PipelineRunner | None:
    """The engine to run on when `--runner` is the DirectRunner; None to let Beam resolve `--runner`."""
    runner = options.view_as(StandardOptions).runner
    if runner is not None and (not isinstance(runner, str) or runner.lower() not in _DIRECT_NAMES):
        return None
    if pubsub:
        from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

        return BundleBasedDirectRunner()
    release_output_streams()
    sample_state_promptly()
    cache_dofn_specs()
    cache_function_arguments()
    send_stage_input_in_chunks()
    streaming = options.view_as(StandardOptions).streaming
    if not streaming:
        spill_to_disk(options.view_as(DedupOptions).spill_above_mib)
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    # The options reach the SDK workers as the DirectRunner hands them over, plus the engine's plugin.
    worker_options = options.get_all_options()
    plugin = STREAMING_WORKER_PLUGIN if streaming else BATCH_WORKER_PLUGIN
    worker_options["beam_plugins"] = [*(worker_options.get("beam_plugins") or []), plugin]
    encoded = JobServiceHandle.encode_pipeline_options(worker_options)
    return GroupingFnApiRunner(
        provision_info=fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)),
        release_free_memory=None if streaming else free_heap_pages(),
    )


def release_output_streams() -> None:
    """Make a reset data output drop its finished bundle's stream (idempotent; this process only:
    the in-process worker's; workers in processes of their own do it through the engine's plugin)."""
    if getattr(DataOutputOperation.reset, "releases_output_stream", False):
        return
    reset = DataOutputOperation.reset

    def reset_and_release(self) -> None:
        reset(self)
        self.output_stream = None

    reset_and_release.releases_output_stream = True
    DataOutputOperation.reset = reset_and_release


SAMPLING_PERIOD_MS = 2
STREAMING_WORKER_PLUGIN, BATCH_WORKER_PLUGIN = "pipeline.worker_plugin", "pipeline.batch_worker_plugin"


def sample_state_promptly() -> None:
    """Make the state samplers of bundle processors sleep at most `SAMPLING_PERIOD_MS` between samples,
    so that a bundle's end waits no longer than that for its sampler (idempotent; this process only)."""
    sampler = statesampler.StateSampler
    if getattr(sampler, "prompt", False):
        return

    class PromptStateSampler(sampler):
        prompt = True

        def __init__(self, prefix, counter_factory, sampling_period_ms=SAMPLING_PERIOD_MS):
            super().__init__(prefix, counter_factory, sampling_period_ms)

    statesampler.StateSampler = PromptStateSampler


def cache_dofn_specs() -> None:
    """Make Beam's `userstate.get_dofn_specs` find each DoFn's state and timer specs once per DoFn
    object, not at every call (idempotent; this process only).

    The specs come from the defaults of the DoFn's methods, which a DoFn keeps once built; one that
    cannot be weakly referenced is looked at every time, as before. Each caller gets sets of its own.
    """
    get_dofn_specs = userstate.get_dofn_specs
    if getattr(get_dofn_specs, "cached", False):
        return
    found: dict[int, tuple] = {}  # id(dofn) -> (weak reference to it, its specs); dropped when it dies

    @functools.wraps(get_dofn_specs)
    def get_dofn_specs_once(dofn):
        key = id(dofn)
        if key not in found:
            try:
                alive = weakref.ref(dofn, lambda _: found.pop(key, None))
            except TypeError:
                return get_dofn_specs(dofn)
            found[key] = alive, get_dofn_specs(dofn)
        state_specs, timer_specs = found[key][1]
        return set(state_specs), set(timer_specs)

    get_dofn_specs_once.cached = True
    userstate.get_dofn_specs = get_dofn_specs_once


def cache_function_arguments() -> None:
    """Make Beam's `core.get_function_args_defaults` read each function's arguments once, not at
    every call (idempotent; this process only).

    Beam reads a method's arguments from its signature each time it wraps the method (`MethodWrapper`),
    which it does for every method of every DoFn it looks at, and again for the new DoFn objects a
    worker unpickles for each bundle. A method's arguments and defaults belong to its function, which
    a class keeps; so a plain function, or a method bound to any object, is read once per function
    (weakly held). Anything else (partials, callable objects) is read every time, as before. Each
    caller gets lists of its own.
    """
    args_defaults = core.get_function_args_defaults
    if getattr(args_defaults, "cached", False):
        return
    found: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # function -> {bound: (args, defaults)}

    @functools.wraps(args_defaults)
    def args_defaults_once(f):
        bound = isinstance(f, types.MethodType)
        function = f.__func__ if bound else f
        if not isinstance(function, types.FunctionType):
            return args_defaults(f)
        read = found.setdefault(function, {})
        if bound not in read:
            read[bound] = args_defaults(f)
        args, defaults = read[bound]
        return list(args), list(defaults)

    args_defaults_once.cached = True
    core.get_function_args_defaults = args_defaults_once


def send_stage_input_in_chunks() -> None:
    """Make grouping buffers encode their groups in pieces of about `CHUNK_BYTES` as they are read,
    dropping each group once encoded, and the runner send each input piece on as soon as the data
    channel's buffer is full (idempotent; this process only: the runner side of both local modes).

    Every piece holds whole elements, which is all the worker's data reads need: a message of the
    data plane may end after any element. A grouping in other than the global window keeps Beam's
    `partition`, which hands each key to its trigger driver.
    """
    partition = execution.GroupingBuffer.partition
    if getattr(partition, "in_chunks", False):
        return

    def partition_in_chunks(self, n: int) -> list[Iterable[bytes]]:
        if self._grouped_output or not self._table or not self._windowing.is_default():
            return partition(self, n)
        table, keys = self._table, list(self._table)
        # Each part pops only its own keys: the parts' senders may read them at the same time.
        self._grouped_output = [
            ReadOnce(encoded_groups(self, ((key, table.pop(key)) for key in keys[part::n]))) for part in range(n)
        ]
        return self._grouped_output

    def send_input_in_pieces(self, process_bundle_id: str, read_transform_id: str, byte_streams) -> None:
        data_conn = self._worker_handler.data_conn
        data_out = data_conn.output_stream(process_bundle_id, read_transform_id)
        if isinstance(data_conn, InMemoryDataChannel):
            _write_pieces(data_out, byte_streams)
            return
        sender = _InputSender(data_out, byte_streams)
        sender.start()
        self.__dict__.setdefault("input_senders", []).append(sender)

    process_bundle = fn_runner.BundleManager.process_bundle

    @functools.wraps(process_bundle)
    def process_bundle_and_join_senders(self, *args, **kwargs):
        result = process_bundle(self, *args, **kwargs)
        for sender in self.__dict__.pop("input_senders", ()):  # done: the worker has read all its input
            sender.join()
        return result

    partition_in_chunks.in_chunks = True
    execution.GroupingBuffer.partition = partition_in_chunks
    fn_runner.BundleManager._send_input_to_worker = send_input_in_pieces
    fn_runner.BundleManager.process_bundle = process_bundle_and_join_senders


def _write_pieces(data_out, byte_streams) -> None:
    # The runner's gRPC streams also flush every second from a thread of their own, holding this lock
    # from taking the buffer until emptying it (which waits while the send queue is full). `write` and
    # `close` do not take it: a piece written in between was emptied unsent, and a close in between
    # sent the taken bytes twice. Writes take it here, and the buffer is flushed before the close.
    flush_lock = getattr(data_out, "_flush_lock", None)
    writing = flush_lock or contextlib.nullcontext()
    try:
        for byte_stream in byte_streams or []:
            with writing:
                data_out.write(byte_stream)
            data_out.maybe_flush()  # between two byte streams: never inside an element
    finally:
        if flush_lock is not None:
            data_out.flush()
        data_out.close()  # the end of the input, even after a failure: the bundle ends, the failure is raised


class _InputSender(threading.Thread):
    """Sends a bundle's input to a worker over gRPC while the bundle runs; `join` raises what it met.

    The runner starts a bundle only once its input is sent, and a worker in a process of its own
    queues only 5 messages of a bundle it has not started, the runner ~200 MB more: an input sent in
    pieces larger than that waits forever (1,000,000 stories in multi_processing mode hung so). Sent
    alongside the bundle, as a runner on a cluster streams it, the worker reads it as it comes.
    """

    def __init__(self, data_out, byte_streams):
        super().__init__(name="send_bundle_input", daemon=True)
        self.data_out, self.byte_streams, self.error = data_out, byte_streams, None

    def run(self) -> None:
        try:
            _write_pieces(self.data_out, self.byte_streams)
        except BaseException as error:  # raised again by join, in the runner's thread
            self.error = error

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def free_heap_pages(at_least: int = 64 << 20):
    """A function that calls glibc's `malloc_trim(0)` (hands every free heap page back to the system)
    when the heaps hold at least `at_least` free bytes (`mallinfo2`); None without glibc >= 2.33.

    Trimming costs a page fault for every page handed back that is used again, so it waits until
    there is enough free memory for its peak to matter: always trimming slowed 5,000-story runs by
    7-20 % for 2 % less memory.
    """
    try:
        libc = ctypes.CDLL(None)
        trim, mallinfo2 = libc.malloc_trim, libc.mallinfo2
    except (AttributeError, OSError):
        return None
    trim.argtypes, trim.restype, mallinfo2.restype = [ctypes.c_size_t], ctypes.c_int, _MallInfo2

    def release() -> bool:
        return mallinfo2().fordblks >= at_least and bool(trim(0))

    return release


def release_free_memory_after_bundles(release) -> None:
    """Make this process's SDK worker call `release` after every bundle it processes (idempotent)."""
    process_bundle = sdk_worker.SdkWorker.process_bundle
    if getattr(process_bundle, "releases_free_memory", False):
        return

    @functools.wraps(process_bundle)
    def process_bundle_and_release(self, *args, **kwargs):
        try:
            return process_bundle(self, *args, **kwargs)
        finally:
            release()

    process_bundle_and_release.releases_free_memory = True
    sdk_worker.SdkWorker.process_bundle = process_bundle_and_release


class GroupingFnApiRunner(fn_runner.FnApiRunner):
    """The FnApiRunner, with Flattens that feed only a grouping written straight into it, and
    `release_free_memory` (if given) called after every bundle it executes."""

    def __init__(self, *args, release_free_memory=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.release_free_memory = release_free_memory

    def _execute_bundle(self, *args, **kwargs):
        try:
            return super()._execute_bundle(*args, **kwargs)
        finally:
            if self.release_free_memory is not None:
                self.release_free_memory()

    def create_stages(self, pipeline_proto):
        context, stages = super().create_stages(pipeline_proto)
        return context, write_flattens_into_groupings(stages, context.data_channel_coders)


def write_flattens_into_groupings(stages: list[translations.Stage], channel_coders: dict[str, str]):
    """Drop each stage that only reads a Flatten's buffer into a grouping buffer; its writers write there.

    Such a stage is two transforms: the read of the Flatten's materialised buffer and the write of
    that PCollection to a `GroupByKey`'s buffer. Its writers' data must be in the coder it read
    with, which Beam has made every Flatten input's coder (else the stage is kept). The grouping
    buffer takes its coders from the GroupByKey, not from the writer, and its consumer waits for
    every stage that writes to it (`WatermarkManager` takes the earliest of several producers), as
    the Flatten's reader did. Runs on the final, fused and sorted stages, once the data channels'
    coders are known; the order stays valid, since only stages are removed.
    """
    def transforms(urn):
        return [(stage, t) for stage in stages for t in stage.transforms if t.spec.urn == urn]

    readers, writers = defaultdict(list), defaultdict(list)
    for stage, read in transforms(DATA_INPUT_URN):
        readers[read.spec.payload].append(stage)
    for _, write in transforms(DATA_OUTPUT_URN):
        writers[write.spec.payload].append(write)
    redirected = set()
    for stage in stages:
        if len(stage.transforms) != 2 or any(stage.side_inputs()) or stage.timers:
            continue
        read, write = stage.transforms
        kinds = [t.spec.payload.partition(b":")[0] for t in (read, write)]  # buffer ids are b"kind:name"
        if (read.spec.urn, write.spec.urn, kinds) != (DATA_INPUT_URN, DATA_OUTPUT_URN, [b"materialize", b"group"]):
            continue
        (pcoll,) = read.outputs.values()
        buffer = read.spec.payload
        if list(write.inputs.values()) != [pcoll] or len(readers[buffer]) != 1 or any(
            channel_coders[_only(w.inputs)] != channel_coders[pcoll] for w in writers[buffer]
        ):
            continue
        for flatten_write in writers[buffer]:
            flatten_write.spec.payload = write.spec.payload
        redirected.add(id(stage))
    return [stage for stage in stages if id(stage) not in redirected]


def _only(mapping):
    (value,) = mapping.values()
    return value
