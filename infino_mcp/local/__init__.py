"""The local Infino endpoint: the Infino HTTP API over the embedded ``infino`` engine.

It is infino-mcp's default backend when no Infino account is configured and the
contract double every test runs against. It needs the ``[local]`` extra.

Layout (each ``*_api`` module exports Starlette ``routes``; ``app.py`` mounts them):

* ``app.py``, ``serve.py``, ``embedded.py``  the app and SigV4 middleware; ``infino-mcp local-endpoint``;
  local mode's in-process client
* ``services.py``     what one process holds (``Services``), built by ``open_services``
* ``http.py``         ``ApiError``, JSON helpers, ``require`` (RBAC check); ``jsonstore.py`` durable JSON objects
* ``sigv4.py``        signature verification (401s)
* ``engine.py``       the one engine connection, per-table locks, grouped commits, background optimize/gc
* ``catalog.py``      dataset names <-> table names, field registry, schema (``infino_type``)
* ``values.py``, ``documents.py``, ``bulk.py``, ``fastbulk.py``  documents in and out: value normalisation,
  the grouped writer (index/create/update/delete, get by id, delete by query), NDJSON bulk and its Arrow fast path
* ``sql.py``, ``sqlrewrite.py``, ``sqlresult.py``, ``sql_api.py``  SQL: name rewriting, SELECT envelopes,
  INSERT/UPDATE/DELETE emulation
* ``querydsl*.py``    QueryDSL compiled to engine SQL (or the engine's native top-k), ES-shaped responses
* ``promql*.py``      Prometheus exposition ingest, PromQL parsing and evaluation
* ``visualizations*.py``, ``vizsql.py``  visualizations and dashboards: CRUD, merge patch, execute with filters
* ``rbac*.py``        users, roles, keys, authorization, field rules (rows and SQL)
* ``fino_api.py``, ``connections_api.py``, ``files_api.py``, ``files_import.py``, ``sample.py``: the rest of the
  API and the sample dataset

Storage conventions every module relies on (one engine table per dataset):

* ``_doc_id`` (large_utf8, FTS index): the document id users see;
  ``_source`` (large_utf8): the original JSON document, returned by get-by-id.
* A user field named ``score`` or starting with ``_`` or ``~`` is stored as ``~<name>``;
  users keep seeing their own name.
* Nested objects are flattened to dotted column names (``user.name``); string
  fields are ``large_utf8`` with an FTS index declared before their first data;
  ISO-8601 date strings in a new field make a ``timestamp_ms`` column.
"""
