"""Visualizations and dashboards: the stored objects, merge patches, and the SQL they run with filters.

May import the query layers (``querydsl``, ``promql``, ``sql``), ``services``, ``security``, ``storage`` and ``errors``.
"""
