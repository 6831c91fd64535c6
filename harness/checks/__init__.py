"""Property checks, one module per topic. Every module here is imported by
:func:`harness.registry.load_checks`; each registers its checks with ``@check``.

Import heavy oracles (scikit-learn, scipy.stats) inside the check functions, not at module
level: collection imports every module here, and must stay fast.
"""
