"""Names vulture reports unused that are used, outside its view (``[tool.vulture]`` in pyproject.toml).

vulture parses this file without running it: each line is a use of one name. Whole classes of names
(tools, validators, QueryDSL clauses) are ignored in pyproject.toml; this file lists the specific rest.
"""
# ruff: noqa: B018, F821

# Library hooks: botocore's SigV4Auth, httpx's Auth and the MCP SDK's TokenVerifier call these.
_._normalize_url_path
_.requires_request_body
_.auth_flow
_.verify_token
_.capture_signals  # uvicorn.Server's, overridden so the owner socket leaves signals to its process
_.should_exit  # uvicorn.Server reads it to stop

# Options of library objects, read by the library: reprlib.Repr limits and re2.Options.
_.maxother
_.maxstring
_.maxdict
_.maxlist
_.maxset
_.maxtuple
_.maxlevel
_.dot_nl
_.log_errors

# Test and bench seams: an in-memory PromQL source and the storage engine's maintenance controls.
_.MemorySource
_.all_specs  # every declared tool: the catalog script and the catalog tests
_.maintain
_.wait_for_maintenance

# Fields of tool results: pydantic serialises them for the client; our code never reads them back.
_.next_offset
_.acknowledged
_.error_count
_.file
_.bytes_sent
_.docs_count
_.health
_.message_count
_.saved_by
_.verified_queries
_.verified_query_count
_.removed
_.not_found
_.highlight
_.total_is_lower_bound
_.execution_time_ms
_.result_type
_.is_time_filter
_.chart_type
_.source_kind
_.formatting
_.dashboards

# sqlglot reads arg_types off the expression classes we define (querydsl/sqltree.py placeholders).
_.arg_types

# asyncio calls a protocol's connection_* / data_received / eof_received; httptools calls the on_* callbacks
# (http_pool._Connection).
_.connection_made
_.data_received
_.eof_received
_.connection_lost
_.on_header
_.on_headers_complete
_.on_body
_.on_message_complete
