"""PromQL: exposition ingest, parsing, evaluation (functions, operators, values) and the sample store.

May import ``sql``, ``services``, ``security``, ``storage`` and ``errors``; not ``querydsl``, ``viz`` or ``api``.
"""
