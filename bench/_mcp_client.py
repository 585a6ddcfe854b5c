"""An MCP client in a process of its own, as every real one is (a chat app, an agent): the official SDK's client,
one session, ``list_alerts`` asked ``--calls`` times after one warm-up call. Prints a JSON list of each call's
seconds as the client saw them. Used by ``api.py``, whose server times the same calls from its side.

    python bench/_mcp_client.py URL HOST TOKEN --calls N
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ARGUMENTS = {"status": "open", "limit": 50}


async def calls(url: str, host: str, token: str, n: int) -> list[float]:
    seen: list[float] = []
    headers = {"Authorization": f"Bearer {token}", "Host": host}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        await client.call_tool("list_alerts", ARGUMENTS)  # warm
        for _ in range(n):
            started = time.perf_counter()
            result = await client.call_tool("list_alerts", ARGUMENTS)
            seen.append(time.perf_counter() - started)
            assert not result.is_error and len(result.structured_content["data"]) == 50, result.content
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("host")
    parser.add_argument("token")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(calls(args.url, args.host, args.token, args.calls))))


if __name__ == "__main__":
    main()
