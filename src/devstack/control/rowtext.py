"""The cells of a ``ps`` row as text: ``devstack ps`` and the dashboard (``devstack ui``)
show the same words. Standard library only (the client commands import this)."""

from __future__ import annotations


def duration(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def size(rss: object) -> str:
    if not isinstance(rss, int):
        return "-"
    value = float(rss)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "-"


def health(health: object) -> str:
    if not isinstance(health, dict):
        return "-"
    word = "ok" if health.get("ok") else "failing"
    latency = health.get("latency")
    if isinstance(latency, int | float):
        word += f" {latency * 1000:.0f}ms" if latency < 1 else f" {latency:.1f}s"
    return word


def cell(value: object) -> str:
    return "-" if value is None else str(value)


def cpu(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else "-"
