"""The ``bedrock`` wire type: Amazon Bedrock's Converse API behind the OpenAI chat API, and its embedding models.

Routes (base ``https://bedrock-runtime.{region}.amazonaws.com`` unless ``network_config.base_url`` says):
chat -> ``POST /model/{modelId}/converse`` (``/converse-stream`` when streaming); embeddings ->
``POST /model/{modelId}/invoke`` (Titan and Cohere models, see ``embeddings.py``). The model id is
percent-encoded (inference-profile ARNs hold ``/``); ``:`` stays as it is (see ``adapter.PATH_SAFE``).

Credentials come from the key's ``bedrock_key_config``: ``access_key``, ``secret_key``, optional
``session_token`` (sent as ``X-Amz-Security-Token``) and ``region`` (default us-east-1); requests are
signed with SigV4 for service ``bedrock``. A key with no access key pair but a ``value`` sends that value
as a Bedrock API key (``Authorization: Bearer``).

Translation decisions:
- system and developer messages become ``system`` blocks, in order; tool messages become ``toolResult``
  blocks of a user turn; consecutive turns of one role are merged (Converse wants them alternating).
- images must be base64 data URLs (png, jpeg, gif, webp): Bedrock cannot fetch a URL, so an http(s)
  image URL is refused with 400 ``unsupported_parameter`` naming the field, as are other content part
  types (audio, files).
- ``tool_choice``: auto -> auto, required -> any, a named function -> tool; none -> no tools are sent.
- ``reasoning_effort`` on Anthropic models turns on extended thinking
  (``additionalModelRequestFields.thinking``, budget low 1024 / medium 4096 / high 16384 tokens, kept below
  ``max_tokens``; when the client set no ``max_tokens`` it becomes budget + 4096). On other models it is
  dropped. Thinking text comes back as ``reasoning_content`` (message and delta), as DeepSeek names it.
- ``tools`` and the deprecated ``functions`` / ``function_call`` -> ``toolConfig``.
- Unsupported parameters follow the rule every native adapter shares (``providers/params.py``): what
  would change what the answer contains is refused with 400 ``unsupported_parameter`` naming it (``n`` > 1,
  ``logprobs`` true, ``top_logprobs``, ``response_format`` other than text, non-text ``modalities``,
  ``audio``, ``web_search_options``, non-function tools); what only tunes sampling or labels the call is
  dropped (``frequency_penalty``, ``presence_penalty``, ``logit_bias``, ``seed``, ``user``, ``metadata``,
  ``store``, ``service_tier``, ``parallel_tool_calls``, ``prediction``, ``prompt_cache_key``,
  ``safety_identifier``, ``verbosity``, ``top_k``), as are names OpenAI does not define. Constraints
  Bedrock itself enforces (e.g. temperature with thinking) are left to it: its ValidationException comes
  back as a 400 with its message.
- usage: ``prompt_tokens`` = input + cache read + cache write tokens; ``cached_tokens`` = cache reads.
"""
from bifrost_proxy.providers.bedrock.adapter import BedrockAdapter

ADAPTER = BedrockAdapter()

__all__ = ["ADAPTER", "BedrockAdapter"]
