"""Issue 7: every native adapter maps, drops or rejects each OpenAI chat parameter by the one shared rule.

Each row below is one parameter (or content part) and its outcome per wire type: REJECT (a 400
``unsupported_parameter`` naming it), DROP (the upstream body is exactly the body without it) or a map
(the value is in the provider's own field). The rows are the table in README; a test holds the shared
lists of ``providers/params.py`` to them, so a name added there needs a row here.
"""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_proxy.config.load import parse_config
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers import adapter_for
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.params import DROPPED, REJECTED, reject_unsupported

# (id, wire type, upstream model): vertex serves Gemini models with the gemini body and Claude with Anthropic's
TARGETS = [
    ("anthropic", "anthropic", "claude-3-5-haiku-latest"),
    ("gemini", "gemini", "gemini-2.5-flash"),
    ("vertex", "vertex", "gemini-2.5-flash"),
    ("vertex-claude", "vertex", "claude-sonnet-4@20250514"),
    ("bedrock", "bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("cohere", "cohere", "command-r-plus"),
]
BODY_OF = {"anthropic": "A", "vertex-claude": "A", "gemini": "G", "vertex": "G", "bedrock": "B", "cohere": "C"}
PROVIDERS = parse_config({"providers": {
    "anthropic": {"keys": [{"name": "k", "value": "sk-ant-test"}]},
    "gemini": {"keys": [{"name": "k", "value": "AIza-test"}]},
    "vertex": {"keys": [{"name": "k", "value": "AIza-vertex-express"}]},
    "bedrock": {"keys": [{"name": "k", "value": "bedrock-api-key"}]},
    "cohere": {"keys": [{"name": "k", "value": "co-test"}]},
}}).providers

REJECT, DROP = "reject", "drop"
USER = {"role": "user", "content": "hi"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
AUDIO_PART = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
PDF_PART = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}


def everywhere(outcome: Any) -> dict[str, Any]:
    return dict.fromkeys("AGBC", outcome)


def mapped(path: tuple[Any, ...], value: Any) -> tuple[tuple[Any, ...], Any]:
    return path, value


# (row id, fields added to the base request, base request additions, param named by a refusal, outcomes
#  per body kind: A anthropic, G gemini, B bedrock Converse, C cohere)
ROWS: list[tuple[str, dict[str, Any], dict[str, Any], str, dict[str, Any]]] = [
    # -- rejected: honouring them would change what the answer contains --------------------------------
    ("n", {"n": 2}, {}, "n",
     {**everywhere(REJECT), "G": mapped(("generationConfig", "candidateCount"), 2)}),
    ("logprobs", {"logprobs": True}, {}, "logprobs", everywhere(REJECT)),
    ("top_logprobs", {"top_logprobs": 3}, {}, "top_logprobs", everywhere(REJECT)),
    ("modalities", {"modalities": ["text", "audio"]}, {}, "modalities", everywhere(REJECT)),
    ("audio", {"audio": {"voice": "alloy", "format": "wav"}}, {}, "audio", everywhere(REJECT)),
    ("web_search_options", {"web_search_options": {}}, {}, "web_search_options", everywhere(REJECT)),
    ("tools-not-function", {"tools": [{"type": "custom", "custom": {"name": "grammar"}}]}, {}, "tools[0].type",
     everywhere(REJECT)),
    ("part-input_audio", {"messages": [{"role": "user", "content": [AUDIO_PART]}]}, {}, "messages[0].content[0]",
     {**everywhere(REJECT), "G": mapped(("contents", 0, "parts", 0, "inlineData", "mimeType"), "audio/wav")}),
    ("part-file", {"messages": [{"role": "user", "content": [PDF_PART]}]}, {}, "messages[0].content[0]",
     {"A": mapped(("messages", 0, "content", 0, "type"), "document"),
      "G": mapped(("contents", 0, "parts", 0, "inlineData", "mimeType"), "application/pdf"),
      "B": REJECT, "C": REJECT}),
    ("part-unknown", {"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": "x"}]}]}, {},
     "messages[0].content[0]", everywhere(REJECT)),
    ("response_format", {"response_format": {"type": "json_object"}}, {}, "response_format",
     {"A": mapped(("tool_choice", "name"), "json_response"),
      "G": mapped(("generationConfig", "responseMimeType"), "application/json"),
      "B": REJECT, "C": mapped(("response_format", "type"), "json_object")}),
    # -- dropped unless mapped: they only tune sampling or label the call -----------------------------
    ("presence_penalty", {"presence_penalty": 0.5}, {}, "",
     {"A": DROP, "G": mapped(("generationConfig", "presencePenalty"), 0.5), "B": DROP,
      "C": mapped(("presence_penalty",), 0.5)}),
    ("frequency_penalty", {"frequency_penalty": 0.25}, {}, "",
     {"A": DROP, "G": mapped(("generationConfig", "frequencyPenalty"), 0.25), "B": DROP,
      "C": mapped(("frequency_penalty",), 0.25)}),
    ("seed", {"seed": 7}, {}, "",
     {"A": DROP, "G": mapped(("generationConfig", "seed"), 7), "B": DROP, "C": mapped(("seed",), 7)}),
    ("logit_bias", {"logit_bias": {"50256": -100}}, {}, "", everywhere(DROP)),
    ("user", {"user": "u-42"}, {}, "", {**everywhere(DROP), "A": mapped(("metadata", "user_id"), "u-42")}),
    ("metadata", {"metadata": {"team": "a"}}, {}, "", everywhere(DROP)),
    ("store", {"store": True}, {}, "", everywhere(DROP)),
    ("service_tier", {"service_tier": "auto"}, {}, "", everywhere(DROP)),
    ("parallel_tool_calls", {"parallel_tool_calls": False}, {"tools": [WEATHER]}, "",
     {**everywhere(DROP), "A": mapped(("tool_choice", "disable_parallel_tool_use"), True)}),
    ("prediction", {"prediction": {"type": "content", "content": "x"}}, {}, "", everywhere(DROP)),
    ("prompt_cache_key", {"prompt_cache_key": "k"}, {}, "", everywhere(DROP)),
    ("prompt_cache_retention", {"prompt_cache_retention": "24h"}, {}, "", everywhere(DROP)),
    ("safety_identifier", {"safety_identifier": "s"}, {}, "", everywhere(DROP)),
    ("verbosity", {"verbosity": "low"}, {}, "", everywhere(DROP)),
    ("reasoning_effort", {"reasoning_effort": "low"}, {}, "",
     {"A": mapped(("thinking", "type"), "enabled"),
      "G": mapped(("generationConfig", "thinkingConfig", "thinkingBudget"), 1024),
      "B": mapped(("additionalModelRequestFields", "thinking", "type"), "enabled"), "C": DROP}),
    ("modalities-text", {"modalities": ["text"]}, {}, "", everywhere(DROP)),
    ("logprobs-false", {"logprobs": False, "top_logprobs": 0}, {}, "", everywhere(DROP)),
    ("n-1", {"n": 1}, {}, "", {**everywhere(DROP), "G": mapped(("generationConfig", "candidateCount"), 1)}),
    ("not-openai", {"x_custom_field": {"a": 1}}, {}, "", everywhere(DROP)),
    # -- mapped by every adapter ----------------------------------------------------------------------
    ("functions", {"functions": [WEATHER["function"]]}, {}, "",
     {"A": mapped(("tools", 0, "name"), "get_weather"),
      "G": mapped(("tools", 0, "functionDeclarations", 0, "name"), "get_weather"),
      "B": mapped(("toolConfig", "tools", 0, "toolSpec", "name"), "get_weather"),
      "C": mapped(("tools", 0, "function", "name"), "get_weather")}),
    ("top_k", {"top_k": 40}, {}, "",
     {"A": mapped(("top_k",), 40), "G": mapped(("generationConfig", "topK"), 40), "B": DROP,
      "C": mapped(("k",), 40)}),
    ("temperature", {"temperature": 0.3}, {}, "",
     {"A": mapped(("temperature",), 0.3), "G": mapped(("generationConfig", "temperature"), 0.3),
      "B": mapped(("inferenceConfig", "temperature"), 0.3), "C": mapped(("temperature",), 0.3)}),
    ("stop", {"stop": "END"}, {}, "",
     {"A": mapped(("stop_sequences",), ["END"]), "G": mapped(("generationConfig", "stopSequences"), ["END"]),
      "B": mapped(("inferenceConfig", "stopSequences"), ["END"]), "C": mapped(("stop_sequences",), ["END"])}),
]


def upstream_body(target: tuple[str, str, str], fields: dict[str, Any]) -> dict[str, Any]:
    _, wire, model = target
    provider = PROVIDERS[wire]
    body = {"model": f"{wire}/{model}", "messages": [USER], **fields}
    req = adapter_for(wire).build_request(Call(Endpoint.CHAT, model, body), provider, provider.keys[0])
    return orjson.loads(req.body)


def at(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


@pytest.mark.parametrize("target", TARGETS, ids=[t[0] for t in TARGETS])
@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_each_parameter_gets_the_same_outcome_on_every_wire_type(row, target):
    _, fields, base, param, outcomes = row
    outcome = outcomes[BODY_OF[target[0]]]
    if outcome == REJECT:
        with pytest.raises(BadRequest) as info:
            upstream_body(target, {**base, **fields})
        assert (info.value.status, info.value.param, info.value.code) == (400, param, "unsupported_parameter")
        return
    without = upstream_body(target, base)
    got = upstream_body(target, {**base, **fields})
    if outcome == DROP:
        assert got == without
    else:
        path, value = outcome
        assert at(got, path) == value and got != without


def test_every_name_of_the_shared_lists_has_a_row():
    covered = {name for _, fields, _, _, _ in ROWS for name in fields}
    assert REJECTED - covered == set() and DROPPED - covered == set()


def test_a_rejected_parameter_the_provider_maps_is_let_through_and_the_first_refusal_wins():
    body = {"n": 3, "logprobs": True, "audio": {"voice": "alloy"}}
    reject_unsupported(body | {"logprobs": False, "audio": None}, {"n"}, "X")
    with pytest.raises(BadRequest) as info:
        reject_unsupported(body, {"n"}, "X")
    assert info.value.param == "logprobs" and info.value.message.startswith("X does not")
