"""`pipeline.worker_plugin`, plus what the engine does after each bundle of a batch run: hand free heap
pages back to the system (`free_heap_pages`). The runner does that for the in-memory worker, which
runs in its own process; a worker in a process of its own does it here."""
from pipeline import worker_plugin  # noqa: F401  (its changes are made on import)
from pipeline.engine import free_heap_pages, release_free_memory_after_bundles

release = free_heap_pages()
if release is not None:
    release_free_memory_after_bundles(release)
