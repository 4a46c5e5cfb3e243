"""Processes: spawn, signal, reap; process trees; port owners; the state file; the guardian.

Nothing is imported here: each module is imported by what needs it.
"""
