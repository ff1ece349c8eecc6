"""infino-mcp: an MCP server for Infino."""

__version__ = "0.1.0"
