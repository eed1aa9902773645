"""Pure functions behind the pipeline: text, sketching, similarity, clustering, merging.

Nothing in this package imports Beam; every function is testable on its own.
"""
