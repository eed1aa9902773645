"""The local engine's changes to Beam's SDK worker, for workers in a process of their own.

multi_processing mode starts each worker as `python -m apache_beam.runners.worker.sdk_worker_main`,
which imports the modules named by `--beam_plugins` before it takes any work: the engine names this
one (`pipeline.engine.local_engine`), so importing it is what makes the change there.
"""
from pipeline.engine import sample_state_promptly

sample_state_promptly()
