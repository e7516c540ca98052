"""Cross-service tests. A package, importable as ``tests.e2e`` and ``tests.resilience``:
pytest puts the repository root on the import path ([tool.pytest.ini_options] pythonpath)."""
