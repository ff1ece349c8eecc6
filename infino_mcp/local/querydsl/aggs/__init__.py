"""QueryDSL aggregations: the parsed tree (``model``), bucket keys, metrics, and the runner.

Part of ``querydsl``; ``model`` imports no other module here.
"""
