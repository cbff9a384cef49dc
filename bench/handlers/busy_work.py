"""The network runs' CPU-bound handler: ``work.busy`` (150 ms of computation) decorated."""

from __future__ import annotations

from work import busy

from honeyhive_serverless import with_honeyhive_session

handler = with_honeyhive_session(capture_event=False, capture_response=False)(busy)
