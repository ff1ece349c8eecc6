"""What is kept on disk: the engine connection, the dataset catalog, values and documents, bulk writes, JSON stores, files, sample data.

May import only ``errors`` (and third-party libraries); knows nothing of HTTP, roles or query languages.
"""
