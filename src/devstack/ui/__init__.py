"""``devstack ui``: the full-screen dashboard of a running stack (Textual).

Above ``control`` (it is a client of the control socket, like the client commands) and
below ``cli`` (``cli/ui.py`` imports it when the command runs): Textual is imported
here and nowhere else, so no other command's start-up changes.

    feed.py      the control connections, each read in a thread (no Textual)
    logstore.py  the lines kept for the log pane; search and filter (pure)
    logview.py   the log pane (a Line API widget: only the visible lines are drawn)
    panels.py    the check panel and the help screen
    app.py       the dashboard: the service table, the log pane, the keys
"""
