"""Who may do what: SigV4 verification, users, roles and keys, role documents, field rules on rows and in SQL.

May import ``storage`` and ``errors``; never ``api`` or the query languages.
"""
