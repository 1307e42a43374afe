"""carewatch's reliability drills: crashes, broker restarts, rebalances, hostile input, soak.

Run them with ``make drills`` or ``python -m drills [--crash-events N] [--soak-minutes M]
...``; the method, the figures of the last run and the command of each drill are in
``RELIABILITY.md``. Like ``bench/`` it lives beside the packages, not in them: it starts
its own Kafka broker and real ``carewatch worker`` subprocesses, and compares what they
produce with the independent reference computation of the end-to-end tests.
"""
