"""The local Infino endpoint: the Infino HTTP API over the embedded ``infino`` engine.

It is infino-mcp's default backend when no Infino account is configured and the
contract double every test runs against. It needs the ``[local]`` extra.

Layout (each ``*_api`` module exports Starlette ``routes``; ``app.py`` mounts them):

* ``app.py``          the app, SigV4 middleware, route order
* ``services.py``     what one process holds (``Services``), built by ``open_services``
* ``http.py``         ``ApiError``, JSON helpers, ``require`` (RBAC check)
* ``sigv4.py``        signature verification (401s)
* ``engine.py``       the one engine connection, per-table write locks, batching, optimize/gc
* ``catalog.py``      dataset names <-> table names, field registry, schema (``infino_type``)
* ``documents.py``    documents in and out: bulk NDJSON, get by id, delete by query
* ``sql*.py``         SQL: name rewriting, SELECT envelopes, INSERT/UPDATE
* ``querydsl*.py``    QueryDSL compiled to engine SQL, ES-shaped responses
* ``promql*.py``      Prometheus exposition ingest, PromQL evaluation
* ``visualizations*`` visualizations and dashboards: CRUD, merge patch, execute
* ``rbac*.py``        users, roles, keys, authorization, field rules
* ``fino_api.py``, ``connections_api.py``, ``files_api.py``: the rest of the API

Storage conventions every module relies on (one engine table per dataset):

* ``_doc_id`` (large_utf8, FTS index): the document id users see;
  ``_source`` (large_utf8): the original JSON document, returned by get-by-id.
* Nested objects are flattened to dotted column names (``user.name``); string
  fields are ``large_utf8`` with an FTS index declared before their first data;
  ISO-8601 date strings in a new field make a ``timestamp_ms`` column.
"""
