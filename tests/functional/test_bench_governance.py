"""The benchmark's governance targets: the config they start the gateway with enforces a key on every request
the load generator sends (its ``Authorization: Bearer sk-bench``), and the table reports what it costs."""
from __future__ import annotations

import asyncio

import yaml

from bench.client import build_request
from bench.payloads import chat
from bench.report import build_table
from bench.targets import GATEWAY_CONFIG, GOVERNANCE_CONFIG, plan_targets
from bench.upstream import Answers, UpstreamProtocol
from bifrost_proxy.app import make_app
from bifrost_proxy.config.load import parse_config


async def test_the_governance_target_admits_counts_and_charges_every_bench_request(serve_app, http):
    server = await asyncio.get_running_loop().create_server(lambda: UpstreamProtocol(Answers()), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = parse_config(yaml.safe_load(GATEWAY_CONFIG.format(port=port) + GOVERNANCE_CONFIG.format(store="memory")),
                          "<bench>", {})
    assert config.governance.enabled and config.governance.virtual_keys[0].budget is not None
    app = make_app(config)
    base = await serve_app(app)
    request = build_request("POST", "/v1/chat/completions", 0, chat(stream_chunks=5, delay_ms=1), "application/json")
    headers = dict(line.split(": ", 1) for line in request.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:])
    for body in (chat(), chat(stream_chunks=5, delay_ms=1)):  # a stream model name is priced by the glob too
        async with http.post(f"{base}/v1/chat/completions", data=body,
                             headers={"Authorization": headers["Authorization"], "Content-Type": "application/json"}) as resp:
            assert resp.status == 200
            assert resp.headers["x-ratelimit-limit-requests"] == "1000000000"
            await resp.read()
    async with http.post(f"{base}/v1/chat/completions", data=chat(), headers={"Authorization": "Bearer other"}) as resp:
        assert resp.status == 401
    server.close()


def test_plan_and_table_show_the_governance_cost():
    names = [t.name for t in plan_targets(["bifrost1", "bifrost-gov", "bifrost-gov-redis"])]
    assert names == ["bifrost w=1", "bifrost+gov w=1", "bifrost+gov/redis w=1"]
    results = {"bifrost w=1": {"S5": {"us_per_req": 200.0}}, "bifrost+gov w=1": {"S5": {"us_per_req": 216.0}},
               "bifrost+gov/redis w=1": {"S5": {"us_per_req": 300.0}}}
    table = build_table(results, list(results), {}).markdown()
    row = next(line for line in table.splitlines() if line.startswith("| S5 governance on"))
    assert "+8.0%" in row and "+50.0%" in row and row.rstrip(" |").endswith("n/a | met | n/a")
