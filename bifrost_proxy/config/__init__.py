from bifrost_proxy.config.load import ConfigError, load_config, load_default_config
from bifrost_proxy.config.schema import (
    ClientConfig,
    Config,
    KeyConfig,
    NetworkConfig,
    ProviderConfig,
    ServerConfig,
)

__all__ = [
    "ClientConfig", "Config", "ConfigError", "KeyConfig", "NetworkConfig", "ProviderConfig", "ServerConfig",
    "load_config", "load_default_config",
]
