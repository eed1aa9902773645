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
"""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineRunner

_DIRECT_NAMES = {"direct", "directrunner", "apache_beam.runners.direct.direct_runner.directrunner"}


def local_engine(options: PipelineOptions, pubsub: bool = False) -> PipelineRunner | None:
    """The engine to run on when `--runner` is the DirectRunner; None to let Beam resolve `--runner`."""
    runner = options.view_as(StandardOptions).runner
    if runner is not None and (not isinstance(runner, str) or runner.lower() not in _DIRECT_NAMES):
        return None
    if pubsub:
        from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

        return BundleBasedDirectRunner()
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    # The options reach the SDK workers as the DirectRunner hands them over.
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(
        provision_info=fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    )
