"""Options, graph assembly and entry points of the wire-story dedup pipeline."""
