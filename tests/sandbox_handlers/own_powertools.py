"""A function that logs with its own Powertools, from a layer attached before HoneyHive's: it answers
which copy it runs, so that the tests can compare it, and what its logger writes, with and without the
HoneyHive layer after it (which ships a Powertools of another version)."""

from __future__ import annotations

from typing import Any

import aws_lambda_powertools
from aws_lambda_powertools import Logger
from aws_lambda_powertools.shared.version import VERSION

logger = Logger(service="own-powertools")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.info("answering", extra={"question": event.get("question")})
    return {"powertools": VERSION, "file": aws_lambda_powertools.__file__}
