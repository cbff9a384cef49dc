"""Getting telemetry out: the HTTP transport, HoneyHive's API client, the OTLP span exporter, the span
processors that decide when spans leave, the after-response Lambda extension, and their wiring."""
