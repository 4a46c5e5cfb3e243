"""devstack: a process supervisor for local development stacks."""

__version__ = "0.1.0"
