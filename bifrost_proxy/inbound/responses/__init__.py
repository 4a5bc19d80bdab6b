"""OpenAI's Responses API for clients (``POST /v1/responses``: Codex, the OpenAI Agents SDK, ``openai``).

Two ways through, chosen per provider and per attempt (``dialect.py``):

- **passthrough** (``passthrough.py``) to a provider with the Responses API itself: by default those named
  ``openai`` and ``azure``, and any ``openai``-type provider with ``options.responses_api: native``
  (``translate`` turns it off for openai/azure). The client's body goes upstream untouched but for
  ``model``; the answer and the stream come back as the upstream sent them. Stateful features
  (``previous_response_id``, ``store: true``, ``conversation``, stored prompts) and built-in tools
  (web search, file search, computer use, MCP ...) work only this way.
- **translation**, stateless, for every other provider: ``request.py`` and ``items.py`` turn the request
  into an OpenAI chat body the adapters already speak, ``response.py`` turns the chat completion into a
  Response object and ``stream.py`` turns chat chunks into the Responses event sequence. Anything only a
  Responses upstream can serve is a 400 naming the field (``code: responses_api_only``).

Errors before a stream starts are OpenAI's ``{"error": {...}}`` with the status (``errors.py``); a failure
after it started is one ``response.failed`` event that carries the stream's own response id and the next
``sequence_number`` (``events.py``).
"""
