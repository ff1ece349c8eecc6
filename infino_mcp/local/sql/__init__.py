"""SQL over datasets: dataset names rewritten to tables, statements executed (writes emulated), result envelopes.

May import ``services``, ``security``, ``storage`` and ``errors``.
"""
