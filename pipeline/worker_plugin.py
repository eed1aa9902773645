"""The local engine's changes to Beam's SDK worker, for workers in a process of their own.

multi_processing mode starts each worker as `python -m apache_beam.runners.worker.sdk_worker_main`,
which imports the modules named by `--beam_plugins` before it takes any work: the engine names this
one for a streaming run and `pipeline.batch_worker_plugin` for a batch one (`local_engine`), so
importing it is what makes the changes there.
"""
from pipeline.engine import (cache_dofn_specs, cache_function_arguments, release_output_streams,
                             sample_state_promptly)

cache_dofn_specs()
cache_function_arguments()
release_output_streams()
sample_state_promptly()
