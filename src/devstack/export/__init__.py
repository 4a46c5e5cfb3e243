"""Hand a stack on: compose.yaml, systemd units, a Procfile; and stack.toml from a Procfile.

Each writer is a pure function of ``source.ExportSource`` (the resolved stack plus
the config as written) that returns text; ``devstack.cli.export`` and
``devstack.cli.init`` do the file handling.
"""
