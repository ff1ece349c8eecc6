"""QueryDSL aggregations: the parsed tree (``model``), bucket keys, query-chosen buckets (``selected``),
metrics, ``top_hits`` (``hits``), ``terms`` options (``terms``), pipelines (``pipelines``, with bucket_selector
conditions in ``script``), and the runner.

Part of ``querydsl``; ``model`` imports no other module here.
"""
