"""The benchmark harness: one fresh pytest-benchmark child per backend x device case.

The parent (``runner``) plans the matrix, measures the machine (``machine``, ``peak``), starts one
``python -m pytest benchmarks/ ...`` child per case with the case's settings in a JSON file
(``caseconfig``), and turns each child's raw pytest-benchmark JSON into the ``results.json``
schema (``collect``). The suites under ``benchmarks/`` use ``suite`` and ``direct`` for what runs
inside the child. Nothing here imports keras at module level: the child selects its backend first.
"""
