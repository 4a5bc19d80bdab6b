"""Where virtual keys and their usage live: ``base.py`` is the protocol, one module per store."""
