"""dlharness: declarative YAML suites that prove deep-learning models' mathematical properties
on every device and dtype, and measure their throughput.

Public entry points: :func:`check_implementation` and :func:`parametrize_with_checks` (for
library authors), :func:`harness.suite.load_suite`, :func:`harness.runner.run_suites`,
:func:`harness.registry.check` (to add a property), the pytest plugin and the ``harness`` CLI.
"""
__version__ = "0.1.0"

__all__ = ["check_implementation", "parametrize_with_checks"]


def __getattr__(name: str):  # torch is imported on first use, not by `import harness`
    if name in __all__:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
