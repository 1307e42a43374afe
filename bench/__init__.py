"""carewatch's benchmark: throughput, latency, memory and recovery against baselines.

Run it with ``make bench`` or ``carewatch bench [--events N] [--quick]``; the method and
the figures are in ``BENCHMARKS.md``. It lives beside the packages, not in them:
it starts its own Kafka and subprocesses, and the worker it measures is the real one.
"""
