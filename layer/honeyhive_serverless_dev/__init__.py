"""Developer tools for honeyhive-serverless: a local HoneyHive-compatible receiver and the CLI.

Nothing here ships in the Lambda layer; it exists for tests and local development.
"""
