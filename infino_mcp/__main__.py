from infino_mcp.cli import main

main()
