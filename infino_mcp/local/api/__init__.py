"""HTTP handlers only: parse the request, authorize it, call the domain, shape the answer.

May import every layer below (viz, querydsl, promql, sql, services, security, storage, errors);
nothing but ``app.py`` imports ``api``.
"""
