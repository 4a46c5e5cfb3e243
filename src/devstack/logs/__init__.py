"""Log output: chunks of whole lines, the hub and its subscribers, the files, the printer.

Nothing is imported here: the client imports ``files`` and ``printer`` without the
asyncio pipeline in ``hub``.
"""
