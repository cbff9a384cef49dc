"""The network runs' handler: ``work.slow`` (150 ms of work) decorated, so what the layer adds over the
undecorated one is the export, with TLS and a receiver that closes idle connections."""

from __future__ import annotations

from work import slow

from honeyhive_serverless import with_honeyhive_session

handler = with_honeyhive_session(capture_event=False, capture_response=False)(slow)
