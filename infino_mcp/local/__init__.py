"""The local Infino endpoint: the Infino HTTP API over the embedded ``infino`` engine.

It is infino-mcp's default backend when no Infino account is configured and the
contract double every test runs against. It needs the ``[local]`` extra.

Layers, each a subpackage that imports only the ones below it (``import-linter`` checks this in CI):

* ``serve.py`` (``infino-mcp local-endpoint``), ``embedded.py`` (``embedded_client``: local mode's client)
* ``owner.py``    one owner per data directory: serve it in-process and on its Unix socket, or attach
  to the process that does; take over when that process goes
* ``app.py``      ``create_app``: routes and the SigV4 middleware
* ``api/``        Starlette handlers only (one module per API category; ``http.py`` has the request helpers)
* ``viz/``        visualizations and dashboards: stored objects, merge patches, the SQL they run with filters
* ``querydsl/``, ``promql/``  the two query languages (compiled to engine SQL; parsed and evaluated)
* ``sql/``        SQL over datasets: name rewriting, execution and write emulation, result envelopes
* ``services.py`` what one process holds (``Services``), built by ``open_services``
* ``security/``   SigV4 verification, users / roles / keys, role documents, field rules and the
                  secure views a restricted caller's SQL reads instead of protected tables
* ``storage/``    the engine connection, catalog, values, documents, bulk fast path, JSON stores, files, sample,
                  the data directory's lock and owner record (``ownership.py``)
* ``errors.py``   ``ApiError``, the one error every layer raises (a leaf)

Storage conventions every module relies on (one engine table per dataset):

* ``_doc_id`` (large_utf8, FTS index): the document id users see;
  ``_source`` (large_utf8): the original JSON document, returned by get-by-id.
* A user field named ``score`` or starting with ``_`` or ``~`` is stored as ``~<name>``;
  users keep seeing their own name.
* Nested objects are flattened to dotted column names (``user.name``); string
  fields are ``large_utf8`` with an FTS index declared before their first data;
  ISO-8601 date strings in a new field make a ``timestamp_ms`` column.
"""
