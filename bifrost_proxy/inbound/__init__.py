"""Inbound APIs: clients that speak Anthropic's Messages, OpenAI's Responses or Gemini's API (issue 13).

One folder per client dialect. Each turns its requests into the OpenAI chat shape every adapter speaks
(``request.py``), OpenAI answers and stream frames back into its own shape (``response.py``, ``stream.py``,
sans-IO), and errors into its own error body (``errors.py``); when the chosen provider speaks the dialect
natively, the request goes through untouched (``passthrough.py``). The relay, timeouts, retries, fallbacks,
cancellation, usage counting and metrics are the same code for every dialect (``base.py`` is the seam).
"""
