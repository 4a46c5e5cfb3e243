"""A running stack: the supervisor, one task per service, the checked restart, restart
policy, probes, setup steps and watch.

Nothing is imported here: the client commands import sibling packages, never this one.
"""
