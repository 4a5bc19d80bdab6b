"""The ``gemini`` wire type: Google's Gemini API (generativelanguage.googleapis.com), from OpenAI's shapes.

Endpoints: chat -> ``POST {base}/v1beta/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``
for streams); embeddings -> ``:batchEmbedContents``. The key goes in ``x-goog-api-key``. ``base_url``
defaults to https://generativelanguage.googleapis.com; ``options.api_version`` (default ``v1beta``) is
added unless ``base_url`` already ends in a version.

Request translation (``request.py``, ``contents.py``):
- system and developer messages, wherever they are, join into the one ``systemInstruction``;
  assistant turns become role ``model``; tool results become ``functionResponse`` parts (the function's
  name comes from the earlier assistant ``tool_calls`` entry with the same id; a tool result that is not
  a JSON object is wrapped as ``{"result": ...}``); consecutive tool results share one turn.
- images: ``data:`` URLs -> ``inlineData``; http(s)/gs URLs -> ``fileData`` with the media type guessed
  from the URL's extension (image/jpeg when unknown). Gemini itself decides which URLs it can fetch
  (Files-API URIs, YouTube, public URLs on newer models) and answers 400 for the rest.
  ``input_audio`` and ``file`` (``file_data`` only) become ``inlineData`` too.
- tools -> ``tools[{functionDeclarations}]`` with the JSON Schema sent as ``parametersJsonSchema``;
  tool_choice auto/none/required/{function} -> ``functionCallingConfig`` AUTO/NONE/ANY/ANY+allowedFunctionNames;
  the deprecated functions / function_call are read as tools / tool_choice.
- generationConfig: temperature, top_p, top_k (extension), stop, max_completion_tokens (else max_tokens),
  n (candidateCount), seed, presence/frequency penalties; response_format json_object -> responseMimeType
  application/json, json_schema -> responseJsonSchema; reasoning_effort none/minimal/low/medium/high ->
  thinkingBudget 0/1024/1024/8192/24576, with ``includeThoughts`` on unless thinking is off.
- Everything else follows the rule every native adapter shares (``providers/params.py``): what would
  change what the answer contains and Gemini cannot honour (``logprobs`` true, ``top_logprobs``,
  non-text ``modalities``, ``audio``, ``web_search_options``, non-function tools, unreadable content
  parts) is answered with 400 ``unsupported_parameter`` naming it; what only tunes or labels the call
  (``logit_bias``, ``user``, ``metadata``, ``store``, ``service_tier``, ``parallel_tool_calls``,
  ``prediction``, ``prompt_cache_key``, ``safety_identifier``, ``verbosity``, ``modalities: ["text"]``,
  ``logprobs: false``) is dropped, as are names OpenAI does not define.

Response translation (``response.py``, ``stream.py``): text parts -> ``content``, thought parts ->
``reasoning_content``, ``functionCall`` parts -> ``tool_calls`` with generated ids (a ``thoughtSignature``
is returned as ``extra_content.google.thought_signature`` and sent back upstream when the client echoes
it, which Gemini 3 requires). finishReason STOP -> stop (tool_calls when the turn called a function),
MAX_TOKENS -> length, SAFETY/RECITATION/BLOCKLIST/PROHIBITED_CONTENT/SPII/IMAGE_SAFETY -> content_filter,
anything else -> stop. ``usageMetadata`` -> ``usage`` (thoughts count in completion_tokens and in
completion_tokens_details.reasoning_tokens; cachedContentTokenCount -> prompt_tokens_details.cached_tokens).
A prompt refused outright (``promptFeedback.blockReason``, no candidates) is answered 400 with code
``content_filter``, as Azure OpenAI answers a filtered prompt; a filtered answer keeps its 200 and says
``finish_reason: content_filter``.

Streams: Gemini has no terminal event. The finish chunk(s), the usage chunk (``choices: []``, with
``stream_options.include_usage``) and ``[DONE]`` are written when the upstream closes after every
candidate gave a finishReason; a stream cut before that is an error (``stream_incomplete``).
Errors ``{"error": {"code", "message", "status"}}`` map by status name (``errors.py``).
"""
from bifrost_proxy.providers.gemini.adapter import GeminiAdapter

ADAPTER = GeminiAdapter()

__all__ = ["ADAPTER", "GeminiAdapter"]
