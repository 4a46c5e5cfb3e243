"""``[[smoke]]`` checks for ``devstack verify``: run them, explain failures, report.

``run`` sends the requests (httpx) and judges the answers, ``cause`` turns a
failure and the running stack's ``ps`` rows into the chain of services behind it,
``report`` prints the table, the JSON and the JUnit XML. Only ``run`` does I/O.
"""
