"""What a provider gets when the config does not say: its wire type, base URL and key variable.

A provider named like one of these gets its values; any other name needs an explicit ``type``.
"""
from __future__ import annotations

from dataclasses import dataclass

WIRE_TYPES = frozenset({"openai", "anthropic", "gemini", "vertex", "bedrock", "cohere", "elevenlabs"})


@dataclass(frozen=True, slots=True)
class ProviderDefaults:
    type: str
    base_url: str
    env_key: str | None  # the variable built-in defaults read the key from
    path_prefix: str = "/v1"  # OpenAI-compatible services: where /chat/completions lives under base_url
    needs_key: bool = True


KNOWN_PROVIDERS: dict[str, ProviderDefaults] = {
    "openai": ProviderDefaults("openai", "https://api.openai.com", "OPENAI_API_KEY"),
    # Azure's endpoint is per resource: the key's azure_key_config.endpoint (or base_url) names it
    "azure": ProviderDefaults("openai", "", "AZURE_API_KEY", path_prefix="/openai"),
    "groq": ProviderDefaults("openai", "https://api.groq.com/openai", "GROQ_API_KEY"),
    "mistral": ProviderDefaults("openai", "https://api.mistral.ai", "MISTRAL_API_KEY"),
    "together": ProviderDefaults("openai", "https://api.together.xyz", "TOGETHER_API_KEY"),
    "openrouter": ProviderDefaults("openai", "https://openrouter.ai/api", "OPENROUTER_API_KEY"),
    "deepseek": ProviderDefaults("openai", "https://api.deepseek.com", "DEEPSEEK_API_KEY"),
    "xai": ProviderDefaults("openai", "https://api.x.ai", "XAI_API_KEY"),
    "fireworks": ProviderDefaults("openai", "https://api.fireworks.ai/inference", "FIREWORKS_API_KEY"),
    "cerebras": ProviderDefaults("openai", "https://api.cerebras.ai", "CEREBRAS_API_KEY"),
    # https://docs.perplexity.ai/api-reference/chat-completions-post: no /v1 in the path
    "perplexity": ProviderDefaults("openai", "https://api.perplexity.ai", "PERPLEXITY_API_KEY", path_prefix=""),
    "ollama": ProviderDefaults("openai", "http://127.0.0.1:11434", None, needs_key=False),
    "vllm": ProviderDefaults("openai", "http://127.0.0.1:8000", "VLLM_API_KEY", needs_key=False),
    "lmstudio": ProviderDefaults("openai", "http://127.0.0.1:1234", None, needs_key=False),
    "anthropic": ProviderDefaults("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    "gemini": ProviderDefaults("gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY"),
    # Vertex and Bedrock URLs depend on project/region: their adapters build them when base_url is empty
    "vertex": ProviderDefaults("vertex", "", None),
    "bedrock": ProviderDefaults("bedrock", "", "AWS_ACCESS_KEY_ID"),
    "cohere": ProviderDefaults("cohere", "https://api.cohere.com", "COHERE_API_KEY"),
    "elevenlabs": ProviderDefaults("elevenlabs", "https://api.elevenlabs.io", "ELEVENLABS_API_KEY"),
}

# Providers with no key to find are on in the built-in defaults only when a local server is the norm.
ALWAYS_ON = ("ollama",)


def defaults_for(name: str, wire_type: str) -> ProviderDefaults:
    """The defaults of a provider named ``name`` (or, for a custom name, of its wire type)."""
    known = KNOWN_PROVIDERS.get(name)
    if known is not None and known.type == wire_type:
        return known
    base = KNOWN_PROVIDERS.get(wire_type)
    if base is None:
        return ProviderDefaults(wire_type, "", None, needs_key=False)
    # a custom-named provider of a known wire type (local-vllm, my-azure ...): usually keyless and local
    return ProviderDefaults(wire_type, base.base_url, None, base.path_prefix, needs_key=False)
