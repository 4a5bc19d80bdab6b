"""An OpenAI chat request -> a Gemini ``GenerateContentRequest`` body (https://ai.google.dev/api/generate-content).

Which OpenAI parameters are translated is listed in the package docstring and in ``SAMPLING`` below;
what is dropped or refused is the rule every native adapter shares (``providers/params.py``).
"""
from __future__ import annotations

from typing import Any

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.gemini.contents import build_contents
from bifrost_proxy.providers.params import reject_unsupported, tools_and_choice

# OpenAI name -> generationConfig name, for values passed through unchanged.
SAMPLING = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",  # an extension name (Anthropic's and Cohere's), mapped where Gemini has it
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "n": "candidateCount",
}
# the parameters of params.REJECTED that Gemini honours: n as candidateCount, response_format as
# responseMimeType / responseJsonSchema
SUPPORTED = frozenset({"n", "response_format"})
# https://ai.google.dev/gemini-api/docs/thinking : thinkingBudget in tokens; 0 turns thinking off.
THINKING_BUDGETS = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}
TOOL_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def build_generate_body(call: Call) -> dict[str, Any]:
    """The upstream body for ``call``; raises ``BadRequest`` for a field Gemini cannot honour."""
    body = call.body
    reject_unsupported(body, SUPPORTED, "Gemini")
    system, contents = build_contents(body.get("messages"))
    out: dict[str, Any] = {"contents": contents}
    if system is not None:
        out["systemInstruction"] = system
    tools, choice = tools_and_choice(body)
    declarations = _tools(tools)
    if declarations:
        out["tools"] = declarations
    tool_config = _tool_config(choice)
    if tool_config:
        out["toolConfig"] = tool_config
    config = generation_config(body)
    if config:
        out["generationConfig"] = config
    return out


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
        # a type other than function was refused by reject_unsupported
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest(f"tools[{i}].function.name is required", param=f"tools[{i}].function.name")
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
