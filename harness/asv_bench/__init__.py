"""asv's ``benchmark_dir`` (see ``asv.conf.json``): the classes come from :mod:`harness.asv_suites`."""
