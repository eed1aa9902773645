"""The same pipeline on three runner set-ups gives byte-identical output (issue 8).

(a) DirectRunner in memory, (b) DirectRunner multi_processing with 2 workers, and (c) PortableRunner
submitting over gRPC to Beam's local job service, whose SDK workers are started by an external
worker pool in other processes: the path Flink's and Spark's job servers take.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from apache_beam import coders
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
from apache_beam.runners.portability.prism_runner import PrismRunner
from apache_beam.runners.common import NameContext
from apache_beam.runners.worker.bundle_processor import DataOutputOperation
from apache_beam.runners.worker.data_plane import ClosableOutputStream
from apache_beam.runners.worker.statesampler import StateSampler
from apache_beam.utils.counters import CounterFactory

from pipeline.engine import local_engine, release_output_streams
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
