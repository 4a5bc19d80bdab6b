"""The ``vertex`` wire type: Gemini (and Anthropic Claude) models on Google Cloud Vertex AI.

Request and answer translation is the ``gemini`` package's (and, for ``claude-*`` models, the
``anthropic`` package's), so parameters are mapped, dropped or refused exactly as there, by the rule
every native adapter shares (``providers/params.py``); this package adds Vertex's URLs (``adapter.py``), its embeddings
(``embeddings.py``) and Google OAuth (``auth.py``: a service-account JWT exchanged for an access token,
cached until shortly before it expires). See ``adapter.py`` for the settings.
"""
from bifrost_proxy.providers.vertex.adapter import VertexAdapter

ADAPTER = VertexAdapter()

__all__ = ["ADAPTER", "VertexAdapter"]
