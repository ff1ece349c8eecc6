"""QueryDSL: requests compiled to engine SQL (or the engine's native top-k) and Elasticsearch-shaped answers.

May import ``sql``, ``services``, ``security``, ``storage`` and ``errors``; not ``promql``, ``viz`` or ``api``.
"""
