import json, pytest
from tests.toolsets.test_query import seed
pytestmark = pytest.mark.anyio
async def test_measure(make_mcp, call):
    client = await make_mcp(max_result_bytes=1_000_000)
    await seed(client, call, count=200)
    sql = 'SELECT id, level, code, latency FROM "web-logs" ORDER BY id'
    for extra in ({"raw": True}, {}, {"row_format": "arrays"}):
        r = await client.call_tool("query_dataset_in_sql", {"query": sql, "limit": 1000, **extra})
        print(extra, "structured", len(json.dumps(r.structured_content, separators=(",", ":"))), "text", len(r.content[0].text))
