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
"""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineRunner
from apache_beam.runners.worker.bundle_processor import DataOutputOperation

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
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    # The options reach the SDK workers as the DirectRunner hands them over.
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(
        provision_info=fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    )


def release_output_streams() -> None:
    """Make a reset data output drop its finished bundle's stream (idempotent; this process only).

    The in-process worker runs in this process, so this covers the in-memory engine; the workers
    that multi_processing starts are separate processes and keep Beam's behaviour.
    """
    if getattr(DataOutputOperation.reset, "releases_output_stream", False):
        return
    reset = DataOutputOperation.reset

    def reset_and_release(self) -> None:
        reset(self)
        self.output_stream = None

    reset_and_release.releases_output_stream = True
    DataOutputOperation.reset = reset_and_release
