"""bifrost_proxy: one OpenAI-compatible API in front of many model providers."""

__version__ = "0.1.0"
