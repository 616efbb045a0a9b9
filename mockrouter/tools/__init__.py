"""What users run beside the server: the command line (``cli``), the scenario linter
(``check``), the pytest plugin (``pytest_plugin``), the conformance fuzzer (``fuzzer``) and
the scenario reference generator (``docs``).
"""
