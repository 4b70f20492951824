"""The state store: what every run did, kept in SQLite so it outlives the process.

``store`` holds the schema's queries, ``migrations`` brings an older database up to
date, ``recorder`` is the built-in plugin ``state`` that writes runs as they happen,
``resume`` finds the recorded context a ``--resume-from``/``--only`` run starts from,
and ``explain`` says, without running anything, which steps the cache would skip.
"""
