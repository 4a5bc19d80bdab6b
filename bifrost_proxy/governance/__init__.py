"""Virtual keys: who may use the gateway, which models, how often, for how much (issue 12)."""
