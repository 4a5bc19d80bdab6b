"""Every ``web.AppKey`` and ``web.RequestKey`` of the application, in one place."""
from __future__ import annotations

import aiohttp
from aiohttp import web

# This module imports nothing of the package, so that any module can import it (it used to import the
# types below for checkers, which tied appkeys, dispatch, metrics, shutdown and the error shaping into one
# import loop). The types are named as text: RuntimeHolder (routing/runtime.py), Metrics
# (observability/metrics.py), Drain (lifecycle/shutdown.py), UpstreamClient (upstream/client.py), Dialect
# (inbound/base.py), StreamDecoder (providers/base.py), Outcome (routing/dispatch.py), Deadlines
# (routing/deadlines.py), Recorder (ui/recorder.py), Dashboard (ui/__init__.py), Governance and Grant
# (governance/enforce.py).
SESSION = web.AppKey("session", aiohttp.ClientSession)
CLIENT = web.AppKey("client", "UpstreamClient")  # sends upstream requests over SESSION's connector
RUNTIME = web.AppKey("runtime", "RuntimeHolder")
METRICS = web.AppKey("metrics", "Metrics")
DRAIN = web.AppKey("drain", "Drain")
DEADLINES = web.AppKey("deadlines", "Deadlines")  # routing/deadlines.py: one timer for the request path's deadlines
# the dashboard: its recorder (fed once per finished request) and its pages
RECORDER = web.AppKey("recorder", "Recorder")
DASHBOARD = web.AppKey("dashboard", "Dashboard")
# virtual keys (issue 12), when governance.enabled or an admin key is set: snapshot() -> per key its
# limits, usage and spend
GOVERNANCE = web.AppKey("governance", "Governance")

REQUEST_ID = web.RequestKey("request_id", str)
# the client's own API when it is not OpenAI's: errors are answered in its shape
DIALECT = web.RequestKey("dialect", "Dialect")
# the decoder of a stream in a client's own dialect: a drain cut ends it with that dialect's error event
STREAM_DECODER = web.RequestKey("stream_decoder", "StreamDecoder")
# who served the call and how many tries it took, left by dispatch for the access log and metrics
OUTCOME = web.RequestKey("outcome", "Outcome")
# the request's virtual key and what admission said, left by governance for dispatch and the headers
GRANT = web.RequestKey("grant", "Grant")
# how many frames a streamed answer relayed (sse/relay.py): a cut stream is charged by it (governance/enforce.py)
FRAMES_RELAYED = web.ResponseKey("frames_relayed", int)
# set by governance while serving a request, shown by the dashboard: the virtual key's name, the cost in USD
VIRTUAL_KEY = web.RequestKey("virtual_key", str)
COST_USD = web.RequestKey("cost_usd", float)
