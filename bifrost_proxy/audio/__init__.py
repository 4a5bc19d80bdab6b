"""Audio helpers shared by the speech and transcription endpoints and the adapters that serve them.

``sniff`` (what an upload is), ``formats`` (which formats exist and their media types), ``upload``
(the client's file, spooled and re-readable), ``multipart`` (the upstream form, built per attempt) and
``decoders`` (sans-IO stream decoders for audio answers).
"""
