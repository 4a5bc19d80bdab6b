"""OpenAI chat request -> Anthropic Messages request body (https://docs.anthropic.com/en/api/messages).

Parameter by parameter:

==========================================  ===========================================================
OpenAI                                      Anthropic
==========================================  ===========================================================
messages (system/developer)                 ``system`` text blocks, in order (see ``messages.py``)
messages (user/assistant/tool)              alternating ``messages``; tool calls -> ``tool_use``,
                                            tool answers -> user ``tool_result``
max_completion_tokens, else max_tokens      ``max_tokens`` (required upstream; default: table below)
temperature, top_p                          same names, passed as given (Anthropic's temperature range
                                            is 0..1: a larger value is answered with Anthropic's 400)
stop (string or list)                       ``stop_sequences``
tools (type function)                       ``tools`` {name, description, input_schema}
tool_choice auto / none / required          ``{"type": "auto" | "none" | "any"}``
tool_choice {"function": {"name": N}}       ``{"type": "tool", "name": N}``
parallel_tool_calls false                   ``tool_choice.disable_parallel_tool_use = true``
reasoning_effort minimal/low/medium/high    ``thinking {type: enabled, budget_tokens}``: 1024 / 2048 /
                                            8192 / 16384 tokens; "none" turns it off. The budget
                                            counts against max_tokens (as OpenAI's reasoning tokens
                                            count against max_completion_tokens): it is cut to
                                            max_tokens - 1, and a max_tokens that leaves less than
                                            Anthropic's minimum of 1024 is a 400.
response_format json_schema                 a forced tool ``json_response`` whose input_schema is the
                                            schema; its input comes back as the message content
                                            (finish_reason "stop"), streamed as content deltas
response_format json_object                 the same, with input_schema ``{"type": "object"}``
response_format + tools                     400 ``unsupported_parameter`` (param response_format): the
                                            forced tool would hide the client's tools
user                                        ``metadata.user_id``
top_k, thinking (Anthropic extensions)      passed through as given
functions / function_call (deprecated)      as tools / tool_choice
==========================================  ===========================================================

Everything else follows the shared rule of ``providers/params.py``: ``n`` > 1, ``logprobs`` true,
``top_logprobs``, non-text ``modalities``, ``audio``, ``web_search_options``, tools that are not
functions and content parts Anthropic cannot read (``messages.py``) are answered with 400
``unsupported_parameter`` naming the parameter; presence/frequency penalties, ``seed``, ``logit_bias``,
``metadata``, ``store``, ``service_tier``, ``prediction``, ``prompt_cache_key``, ``safety_identifier``,
``verbosity``, ``modalities: ["text"]``, ``logprobs: false`` and names OpenAI does not define are dropped.

Default ``max_tokens`` when the client sets none (``options.default_max_tokens`` replaces the table):
Claude 3 (Haiku, Sonnet, Opus) 4096; Claude 3.5 8192; Claude 3.7 and every Claude 4 or later model
32000 (Opus 4/4.1's documented ceiling; the larger models' 64000 is left to clients that ask for it,
since an unset limit should not hold a non-stream call open for many minutes); unknown models 4096.
With thinking on, the default is raised to at least the budget plus 4096.

Known limits, answered by Anthropic's own 400 (passed on with its message): thinking does not combine
with a temperature other than 1, with top_k, or with a forced tool (so not with response_format); a
multi-turn tool conversation with thinking on needs the earlier thinking blocks, which OpenAI's history
format cannot carry.
"""
from __future__ import annotations

import re
from typing import Any

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.anthropic.messages import convert_messages
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.params import reject_unsupported, stop_sequences, tools_and_choice, unsupported

# The forced tool that carries a response_format answer; response.py and stream.py turn it back into text.
JSON_TOOL = "json_response"
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}
MIN_THINKING_BUDGET = 1024
ANSWER_ROOM = 4096  # tokens left for the answer when thinking raises the default max_tokens
UNKNOWN_MODEL_MAX_TOKENS = 4096
# the parameters of params.REJECTED that Anthropic can honour (response_format: as a forced tool)
SUPPORTED = frozenset({"response_format"})
# "claude-3-5-sonnet-20241022", "claude-3-opus@20240229", "anthropic.claude-3-7-sonnet-20250219-v1:0"
_OLD_NAME = re.compile(r"claude-(\d+)(?:[-.](\d)(?!\d))?-(?:opus|sonnet|haiku)")
# "claude-sonnet-4-20250514", "claude-opus-4-1-20250805", "claude-haiku-4-5@20251001"
_NEW_NAME = re.compile(r"claude-(?:opus|sonnet|haiku)-(\d+)(?:[-.](\d)(?!\d))?")


def default_max_tokens(model: str) -> int:
    """The ``max_tokens`` sent for ``model`` when the client set none (see the module docstring)."""
    match = _NEW_NAME.search(model) or _OLD_NAME.search(model)
    if match is None:
        return UNKNOWN_MODEL_MAX_TOKENS
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    if major < 3:
        return UNKNOWN_MODEL_MAX_TOKENS
    if major == 3 and minor < 5:
        return 4096
    if major == 3 and minor < 7:
        return 8192
    return 32000


def build_messages_body(call: Call, default_max: int | None = None) -> dict[str, Any]:
    """The Messages API body for ``call`` (``model`` included; Vertex drops it and adds its version).

    Raises ``BadRequest`` naming the parameter for what Anthropic cannot do. ``default_max`` replaces the
    per-model default of ``max_tokens``.
    """
    req = call.body
    reject_unsupported(req, SUPPORTED, "Anthropic")
    system, messages = convert_messages(req.get("messages"))
    body: dict[str, Any] = {"model": call.model, "max_tokens": 0}
    if system:
        body["system"] = system
    body["messages"] = messages
    for name in ("temperature", "top_p", "top_k"):
        if req.get(name) is not None:
            body[name] = req[name]
    stop = stop_sequences(req)
    if stop:
        body["stop_sequences"] = stop
    _tools(req, body)
    _max_tokens_and_thinking(req, body, default_max or default_max_tokens(call.model))
    user = req.get("user")
    if isinstance(user, str) and user:
        body["metadata"] = {"user_id": user}
    if call.stream:
        body["stream"] = True
    return body


def _tools(req: dict[str, Any], body: dict[str, Any]) -> None:
    tools, choice = tools_and_choice(req)
    fmt = req.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        if tools:
            raise unsupported("response_format", "Anthropic cannot combine 'response_format' with 'tools' "
                              "(it is honoured as a forced tool): drop one of them")
        body["tools"] = [_json_tool(fmt)]
        body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
        return
    if not tools:
        return  # tool_choice without tools means nothing upstream; Anthropic would reject it
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be an array", param="tools")
    body["tools"] = [_tool(tool, i) for i, tool in enumerate(tools)]
    converted = _tool_choice(choice)
    if req.get("parallel_tool_calls") is False:
        converted = converted or {"type": "auto"}
        if converted["type"] != "none":
            converted["disable_parallel_tool_use"] = True
    if converted:
        body["tool_choice"] = converted


def _tool(tool: Any, i: int) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(tool, dict):  # a non-function type was refused by reject_unsupported
        raise BadRequest(f"tools[{i}] must be an object", param=f"tools[{i}]")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise BadRequest(f"tools[{i}].function.name is required", param=f"tools[{i}].function.name")
    out: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        out["description"] = function["description"]
    schema = function.get("parameters")
    out["input_schema"] = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
    if isinstance(tool.get("cache_control"), dict):
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    name = None
    if isinstance(choice, dict):  # {"type": "function", "function": {"name": N}}
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else choice.get("name")
    if not isinstance(name, str):
        raise BadRequest("'tool_choice' must be auto, none, required or {\"type\": \"function\", "
                         "\"function\": {\"name\": ...}}", param="tool_choice")
    return {"type": "tool", "name": name}


def _json_tool(fmt: Any) -> dict[str, Any]:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        return {"name": JSON_TOOL, "description": "Answer with a JSON object.", "input_schema": {"type": "object"}}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise BadRequest("response_format.json_schema.schema must be an object",
                             param="response_format.json_schema.schema")
        description = "Answer with a JSON object that matches the schema."
        if spec.get("description"):
            description += " " + str(spec["description"])
        return {"name": JSON_TOOL, "description": description, "input_schema": schema}
    raise BadRequest("'response_format.type' must be text, json_object or json_schema",
                     param="response_format.type")


def _max_tokens_and_thinking(req: dict[str, Any], body: dict[str, Any], default_max: int) -> None:
    param = "max_completion_tokens" if req.get("max_completion_tokens") is not None else "max_tokens"
    limit = req.get(param)
    if limit is not None and (type(limit) is not int or limit < 1):
        raise BadRequest(f"'{param}' must be a positive integer", param=param)
    effort = req.get("reasoning_effort")
    budget = None
    if effort is not None and effort != "none":
        budget = THINKING_BUDGETS.get(effort)
        if budget is None:
            raise BadRequest("'reasoning_effort' must be none, minimal, low, medium or high",
                             param="reasoning_effort")
    if limit is None:
        limit = default_max
        if budget is not None:
            limit = max(limit, budget + ANSWER_ROOM)
    elif budget is not None:
        budget = min(budget, limit - 1)
        if budget < MIN_THINKING_BUDGET:
            raise BadRequest(f"'{param}' must be above {MIN_THINKING_BUDGET} when reasoning_effort is set: "
                             "anthropic's thinking needs at least that many tokens", param=param)
    body["max_tokens"] = limit
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif isinstance(req.get("thinking"), dict):
        body["thinking"] = req["thinking"]
