"""One module per CLI command that is too big for ``cli.py``: ``cmd_<name>(args) -> int``."""
