"""dlharness: declarative YAML suites that prove deep-learning models' mathematical properties
on every device and dtype, and measure their throughput.

Public entry points: :func:`harness.suite.load_suite`, :func:`harness.runner.run_suites`,
:func:`harness.registry.check` (to add a property), the pytest plugin and the ``harness`` CLI.
"""
__version__ = "0.1.0"
