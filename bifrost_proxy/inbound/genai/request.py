"""A Gemini ``GenerateContentRequest`` -> an OpenAI chat body (https://ai.google.dev/api/generate-content).

``to_openai`` maps what has an OpenAI equivalent (``contents.py`` for the conversation):
- ``tools[].functionDeclarations`` -> function tools (``parameters`` converted from Gemini's Schema,
  ``parametersJsonSchema`` as is); ``toolConfig.functionCallingConfig`` AUTO/VALIDATED -> auto, NONE ->
  none, ANY -> required (one allowed name -> that function; several -> only those tools offered).
- ``generationConfig``: temperature, topP, topK (``top_k``), candidateCount (``n``), maxOutputTokens
  (``max_completion_tokens``), stopSequences, seed, presence/frequencyPenalty; responseMimeType
  application/json -> ``json_object``, with responseSchema or responseJsonSchema -> ``json_schema``;
  thinkingConfig.thinkingBudget (1-1024 low, to 8192 medium, above high; 0 and -1 ask nothing) or
  thinkingLevel -> ``reasoning_effort``.
- dropped, as they only tune the call: safetySettings, labels, mediaResolution, toolConfig.retrievalConfig,
  and names Gemini's API does not define.
- Gemini-only (``GeminiOnly``): tools other than functions, cachedContent, non-text responseModalities,
  speechConfig, imageConfig, logprobs, enum output, and parts other providers cannot read. Served by
  passthrough to a Gemini upstream; the endpoint answers 400 naming the field for any other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.genai.contents import messages, system_message
from bifrost_proxy.inbound.genai.names import GeminiOnly, expect, pick
from bifrost_proxy.inbound.genai.schema import json_schema

# ours, never sent upstream; and "model", which the path names (a copy in the body could contradict it)
LEFT_OUT = frozenset({"fallbacks", "model"})
GEMINI_ONLY_FIELDS = (("cachedContent", "cached_content", "cached content"),)
# generationConfig name (camel, snake) -> OpenAI name, numbers passed through
NUMBERS = (("temperature", "temperature", "temperature"), ("topP", "top_p", "top_p"), ("topK", "top_k", "top_k"),
           ("seed", "seed", "seed"), ("presencePenalty", "presence_penalty", "presence_penalty"),
           ("frequencyPenalty", "frequency_penalty", "frequency_penalty"))
GEMINI_ONLY_CONFIG = (("speechConfig", "speech_config", "speech output"),
                      ("imageConfig", "image_config", "image output"),
                      ("responseLogprobs", "response_logprobs", "log probabilities"),
                      ("logprobs", "logprobs", "log probabilities"))
MODES = {"AUTO": "auto", "VALIDATED": "auto", "MODE_UNSPECIFIED": "auto", "NONE": "none", "ANY": "required"}
LEVELS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}


@dataclass(slots=True)
class Translation:
    body: dict[str, Any]  # the OpenAI chat body, model qualified
    native: dict[str, Any]  # the client's request without LEFT_OUT (for a Gemini upstream)
    gemini_only: GeminiOnly


def to_openai(request: dict[str, Any], model: str, stream: bool) -> Translation:
    native = {k: v for k, v in request.items() if k not in LEFT_OUT} if not LEFT_OUT.isdisjoint(request) \
        else request
    gemini_only = GeminiOnly()
    msgs = messages(request.get("contents"), gemini_only)
    if not msgs and not gemini_only.found:
        raise BadRequest("contents hold nothing to answer: no text, media or function parts (empty text and "
                         "thought parts are not sent)", param="contents")
    system = system_message(pick(request, "systemInstruction", "system_instruction"), gemini_only)
    body: dict[str, Any] = {"model": model, "messages": [system, *msgs] if system else msgs, "stream": stream}
    fallbacks = request.get("fallbacks")
    if fallbacks is not None:
        body["fallbacks"] = fallbacks
    for camel, snake, what in GEMINI_ONLY_FIELDS:
        if pick(request, camel, snake) is not None:
            gemini_only.add(camel, what)
    tools = _tools(request.get("tools"), gemini_only)
    if tools:
        body["tools"] = tools
        _tool_choice(pick(request, "toolConfig", "tool_config"), body)
    _generation_config(pick(request, "generationConfig", "generation_config"), body, gemini_only)
    return Translation(body, native, gemini_only)


def include_thoughts(request: dict[str, Any] | None) -> bool:
    """Did the client ask for thought summaries (``thinkingConfig.includeThoughts``)? Gemini sends none else."""
    config = pick(request, "generationConfig", "generation_config") if request else None
    thinking = pick(config, "thinkingConfig", "thinking_config") if isinstance(config, dict) else None
    return isinstance(thinking, dict) and pick(thinking, "includeThoughts", "include_thoughts") is True


def _tools(tools: Any, gemini_only: GeminiOnly) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise BadRequest("tools must be a list", param="tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise BadRequest(f"tools[{i}] must be an object", param=f"tools[{i}]")
        for key, value in tool.items():
            if key not in ("functionDeclarations", "function_declarations"):
                gemini_only.add(f"tools[{i}].{key}", f"the {key} tool")
            elif not isinstance(value, list):
                raise BadRequest(f"tools[{i}].functionDeclarations must be a list",
                                 param=f"tools[{i}].functionDeclarations")
            else:
                out.extend(_function(d, f"tools[{i}].functionDeclarations[{j}]") for j, d in enumerate(value))
    return out


def _function(declaration: Any, at: str) -> dict[str, Any]:
    if not isinstance(declaration, dict) or not isinstance(declaration.get("name"), str) or not declaration["name"]:
        raise BadRequest(f"{at}.name is required", param=f"{at}.name")
    fn: dict[str, Any] = {"name": declaration["name"]}
    if isinstance(declaration.get("description"), str):
        fn["description"] = declaration["description"]
    schema = pick(declaration, "parametersJsonSchema", "parameters_json_schema")
    if schema is None:
        schema = json_schema(declaration.get("parameters"))
    if schema is not None:
        fn["parameters"] = expect(schema, dict, f"{at}.parameters", "an object (a schema)")
    return {"type": "function", "function": fn}


def _tool_choice(config: Any, body: dict[str, Any]) -> None:
    calling = pick(config, "functionCallingConfig", "function_calling_config") if isinstance(config, dict) else None
    if not isinstance(calling, dict):
        return
    where = "toolConfig.functionCallingConfig"
    mode = calling.get("mode")
    if mode is None:
        return
    choice = MODES.get(str(mode).upper())
    if choice is None:
        raise BadRequest(f"{where}.mode must be AUTO, ANY, NONE or VALIDATED", param=f"{where}.mode")
    allowed = _strings(pick(calling, "allowedFunctionNames", "allowed_function_names"),
                       f"{where}.allowedFunctionNames", "a list of function names")
    if choice == "required" and allowed:
        if len(allowed) == 1:
            body["tool_choice"] = {"type": "function", "function": {"name": allowed[0]}}
            return
        body["tools"] = [t for t in body["tools"] if t["function"]["name"] in allowed]
    body["tool_choice"] = choice


def _strings(value: Any, where: str, what: str) -> list[str] | None:
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise BadRequest(f"{where} must be {what}", param=where)
    return value


def _generation_config(config: Any, body: dict[str, Any], gemini_only: GeminiOnly) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise BadRequest("generationConfig must be an object", param="generationConfig")
    at = "generationConfig."
    for camel, snake, name in NUMBERS:
        value = expect(pick(config, camel, snake), (int, float), at + camel, "a number")
        if value is not None:
            body[name] = value
    count = expect(pick(config, "candidateCount", "candidate_count"), int, at + "candidateCount", "an integer")
    if count is not None:
        body["n"] = count
    limit = expect(pick(config, "maxOutputTokens", "max_output_tokens"), int, at + "maxOutputTokens", "an integer")
    if limit is not None:
        body["max_completion_tokens"] = limit
    stop = _strings(pick(config, "stopSequences", "stop_sequences"), at + "stopSequences", "a list of strings")
    if stop:
        body["stop"] = stop
    for camel, snake, what in GEMINI_ONLY_CONFIG:
        if pick(config, camel, snake) not in (None, False):
            gemini_only.add(at + camel, what)
    modalities = pick(config, "responseModalities", "response_modalities")
    text_only = isinstance(modalities, list) and all(str(m).upper() == "TEXT" for m in modalities)
    if modalities is not None and not text_only:
        gemini_only.add(at + "responseModalities", "output other than text")
    _response_format(config, body, gemini_only)
    _reasoning(pick(config, "thinkingConfig", "thinking_config"), body)


def _response_format(config: dict[str, Any], body: dict[str, Any], gemini_only: GeminiOnly) -> None:
    at = "generationConfig."
    mime = pick(config, "responseMimeType", "response_mime_type")
    schema = pick(config, "responseJsonSchema", "response_json_schema")
    if schema is None:
        schema = json_schema(pick(config, "responseSchema", "response_schema"))
    if mime in (None, "text/plain") and schema is None:
        return
    if mime not in (None, "application/json"):
        gemini_only.add(at + "responseMimeType", f"output as {str(mime)[:100]}")
        return
    if schema is None:
        body["response_format"] = {"type": "json_object"}
        return
    expect(schema, dict, at + "responseSchema", "an object (a schema)")
    body["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def _reasoning(thinking: Any, body: dict[str, Any]) -> None:
    if not isinstance(thinking, dict):
        return
    where = "generationConfig.thinkingConfig."
    level = pick(thinking, "thinkingLevel", "thinking_level")
    if level is not None:
        effort = LEVELS.get(str(level).lower())
        if effort is None:
            raise BadRequest(f"{where}thinkingLevel must be MINIMAL, LOW, MEDIUM or HIGH",
                             param=where + "thinkingLevel")
        body["reasoning_effort"] = effort
        return
    budget = expect(pick(thinking, "thinkingBudget", "thinking_budget"), int, where + "thinkingBudget", "an integer")
    if budget is not None and budget > 0:  # 0 turns thinking off and -1 leaves it to the model: nothing to ask
        body["reasoning_effort"] = "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
