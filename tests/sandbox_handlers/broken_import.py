"""A handler module that fails while it is imported: the runtime reports an init error."""

raise RuntimeError("broken at import")
