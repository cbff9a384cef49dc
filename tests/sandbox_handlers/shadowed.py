"""A layer ships a module of the same name: the task root comes first on the path, so this one wins."""

VALUE = "task root"
