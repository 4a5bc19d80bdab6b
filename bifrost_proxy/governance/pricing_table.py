"""The built-in prices: USD per 1M input and output tokens, from each provider's public price page.

Checked against the providers' pricing pages in 2025 (standard tier, no batch or cache discounts; for
models priced by prompt length, the short-prompt price). Prices change: ``pricing:`` in the config adds
models and overrides any of these (README "Teams and keys"). Model names are the ones the provider's API
takes; dated or versioned names (``gpt-4o-2024-08-06``, ``claude-3-5-haiku-20241022``,
``gemini-2.0-flash-001``, ``anthropic.claude-3-5-sonnet-20240620-v1:0``) find their base name here
(``pricing.py``). Models billed per character, per second or per image (tts-1, whisper-1, dall-e) have no
entry: a key with a USD budget may use them only once ``pricing:`` prices them.
"""
from __future__ import annotations

OPENAI: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.00), "gpt-5-mini": (0.25, 2.00), "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00), "gpt-4o-mini": (0.15, 0.60), "chatgpt-4o-latest": (5.00, 15.00),
    "gpt-4-turbo": (10.00, 30.00), "gpt-4": (30.00, 60.00), "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00), "o1-mini": (1.10, 4.40), "o3": (2.00, 8.00), "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    # audio models report tokens: audio input / text output (transcribe), text input / audio output (tts)
    "gpt-4o-transcribe": (6.00, 10.00), "gpt-4o-mini-transcribe": (3.00, 5.00), "gpt-4o-mini-tts": (0.60, 12.00),
    "text-embedding-3-small": (0.02, 0.0), "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
}

ANTHROPIC: dict[str, tuple[float, float]] = {
    "claude-opus-4-5": (5.00, 25.00), "claude-opus-4-1": (15.00, 75.00), "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4-5": (3.00, 15.00), "claude-sonnet-4": (3.00, 15.00), "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-7-sonnet": (3.00, 15.00), "claude-3-5-sonnet": (3.00, 15.00), "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-opus": (15.00, 75.00), "claude-3-haiku": (0.25, 1.25),
}

GEMINI: dict[str, tuple[float, float]] = {
    "gemini-2.5-pro": (1.25, 10.00), "gemini-2.5-flash": (0.30, 2.50), "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40), "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-1.5-pro": (1.25, 5.00), "gemini-1.5-flash": (0.075, 0.30),
    "gemini-embedding-001": (0.15, 0.0), "text-embedding-004": (0.0, 0.0),
}

COHERE: dict[str, tuple[float, float]] = {
    "command-a": (2.50, 10.00), "command-r-plus": (2.50, 10.00), "command-r": (0.15, 0.60),
    "command-r7b": (0.0375, 0.15), "embed-v4.0": (0.12, 0.0), "embed-english-v3.0": (0.10, 0.0),
    "embed-multilingual-v3.0": (0.10, 0.0),
}

MISTRAL: dict[str, tuple[float, float]] = {
    "mistral-large": (2.00, 6.00), "mistral-medium": (0.40, 2.00), "mistral-small": (0.10, 0.30),
    "codestral": (0.30, 0.90), "mistral-embed": (0.10, 0.0),
}

GROQ: dict[str, tuple[float, float]] = {
    "llama-3.1-8b-instant": (0.05, 0.08), "llama-3.3-70b-versatile": (0.59, 0.79),
}

DEEPSEEK: dict[str, tuple[float, float]] = {"deepseek-chat": (0.28, 0.42), "deepseek-reasoner": (0.28, 0.42)}

XAI: dict[str, tuple[float, float]] = {"grok-4": (3.00, 15.00), "grok-3": (3.00, 15.00), "grok-3-mini": (0.30, 0.50)}

# provider name (as in KNOWN_PROVIDERS) -> the tables its model names are looked up in, in order
BUILTIN: dict[str, tuple[dict[str, tuple[float, float]], ...]] = {
    "openai": (OPENAI,),
    "azure": (OPENAI,),  # Azure OpenAI bills the same models at OpenAI's list prices
    "anthropic": (ANTHROPIC,),
    "gemini": (GEMINI,),
    "vertex": (GEMINI, ANTHROPIC),
    "bedrock": (ANTHROPIC,),
    "cohere": (COHERE,),
    "mistral": (MISTRAL,),
    "groq": (GROQ,),
    "deepseek": (DEEPSEEK,),
    "xai": (XAI,),
}
