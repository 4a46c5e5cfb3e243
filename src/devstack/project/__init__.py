"""What the project's own files and command lines reveal, read without running anything:
a web server's command line (``servers``), a folder's virtualenv (``venv``).

Stdlib only, below ``config`` and ``checks``: both read them.
"""
