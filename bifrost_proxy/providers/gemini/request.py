"""An OpenAI chat request -> a Gemini ``GenerateContentRequest`` body (https://ai.google.dev/api/generate-content).

Which OpenAI parameters are translated, dropped or rejected is listed in the package docstring; the
tables below are that list in code, and a test holds them to it.
"""
from __future__ import annotations

from typing import Any

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.gemini.contents import build_contents

# OpenAI name -> generationConfig name, for values passed through unchanged.
SAMPLING = {
    "temperature": "temperature",
    "top_p": "topP",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "n": "candidateCount",
}
# Tuning and labelling fields with no Gemini counterpart: the answer means the same without them.
DROPPED = frozenset({"user", "metadata", "store", "service_tier", "parallel_tool_calls", "prompt_cache_key",
                     "prompt_cache_retention", "safety_identifier", "prediction", "verbosity", "stream_options"})
# Fields whose silent loss would change what the client gets back: answered with 400.
REJECTED = {
    "logprobs": "log probabilities are not translated for the gemini wire type",
    "top_logprobs": "log probabilities are not translated for the gemini wire type",
    "logit_bias": "Gemini has no logit bias",
    "audio": "audio output is not translated for the gemini wire type",
    "functions": "the legacy functions field is not supported; send tools",
    "function_call": "the legacy function_call field is not supported; send tool_choice",
    "web_search_options": "web search is not translated for the gemini wire type",
}
# https://ai.google.dev/gemini-api/docs/thinking : thinkingBudget in tokens; 0 turns thinking off.
THINKING_BUDGETS = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}
TOOL_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def build_generate_body(call: Call) -> dict[str, Any]:
    """The upstream body for ``call``; raises ``BadRequest`` for a field Gemini cannot honour."""
    body = call.body
    _reject_unsupported(body)
    system, contents = build_contents(body.get("messages"))
    out: dict[str, Any] = {"contents": contents}
    if system is not None:
        out["systemInstruction"] = system
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    tool_config = _tool_config(body.get("tool_choice"))
    if tool_config:
        out["toolConfig"] = tool_config
    config = generation_config(body)
    if config:
        out["generationConfig"] = config
    return out


def _reject_unsupported(body: dict[str, Any]) -> None:
    for name, why in REJECTED.items():
        value = body.get(name)
        if value not in (None, False, {}, []):
            raise BadRequest(f"{name}: {why}", param=name, code="unsupported_parameter")
    modalities = body.get("modalities")
    if isinstance(modalities, list) and any(m != "text" for m in modalities):
        raise BadRequest("modalities: only text output is translated for the gemini wire type",
                         param="modalities", code="unsupported_parameter")


def generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, target in SAMPLING.items():
        if body.get(name) is not None:
            config[target] = body[name]
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        if not isinstance(stop, (str, list)) or isinstance(stop, list) and not all(isinstance(s, str) for s in stop):
            raise BadRequest("stop must be a string or a list of strings", param="stop")
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    config.update(_response_format(body.get("response_format")))
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in THINKING_BUDGETS:
            raise BadRequest(f"reasoning_effort must be one of {', '.join(THINKING_BUDGETS)}",
                             param="reasoning_effort")
        budget = THINKING_BUDGETS[effort]
        # thought summaries come back only when asked for; they become reasoning_content
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
    return config


def _response_format(fmt: Any) -> dict[str, Any]:
    if fmt is None:
        return {}
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise BadRequest("response_format.json_schema.schema must be an object", param="response_format")
        # responseJsonSchema takes JSON Schema as is; responseSchema would need OpenAPI-subset rewriting
        return {"responseMimeType": "application/json", "responseJsonSchema": schema}
    raise BadRequest("response_format.type must be text, json_object or json_schema", param="response_format")


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not tools:
        return []
    if not isinstance(tools, list):
        raise BadRequest("tools must be a list", param="tools")
    declarations = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest(f"tools[{i}]: only function tools with a name are supported by the gemini wire type",
                             param=f"tools[{i}]")
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        params = fn.get("parameters")
        if isinstance(params, dict) and params:
            # parametersJsonSchema takes JSON Schema as is (parameters wants Google's OpenAPI subset)
            decl["parametersJsonSchema"] = params
        declarations.append(decl)
    return [{"functionDeclarations": declarations}]


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in TOOL_CHOICE_MODES:
            raise BadRequest("tool_choice must be auto, none, required or a function", param="tool_choice")
        return {"functionCallingConfig": {"mode": TOOL_CHOICE_MODES[choice]}}
    fn = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise BadRequest("tool_choice must be auto, none, required or {\"type\": \"function\", "
                         "\"function\": {\"name\": ...}}", param="tool_choice")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [fn["name"]]}}
