"""The construct in each stack that holds what HoneyHive adds to it: layers, imported layers, imported keys.

One instrumentation can reach functions in every stack of every stage of an App, and a function can
only use what its own stack has (a reference into another stage cannot be made at all). So each stack
gets a holder, and each thing under it is looked up by a deterministic id before it is created: the
construct tree, not the instrumentation object, knows what already exists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar, cast

from aws_cdk import Stack
from constructs import Construct, IConstruct

#: The holder's id in each stack. ``HoneyHive/Layer-python3.12-x86_64`` is the path the locally built
#: layer has always had, so its logical id, and the deployed layer version, survive an upgrade.
HOLDER_ID = "HoneyHive"

_Child = TypeVar("_Child", bound=IConstruct)


class HoneyHiveResources(Construct):
    """Holds a stack's HoneyHive layers and imports; created by the instrumentation, never by hand."""


def find_or_create(stack: Stack, id: str, create: Callable[[Construct, str], _Child]) -> _Child:
    """The child ``id`` of ``stack``'s holder, made by ``create(holder, id)`` the first time it is asked for."""
    holder = stack.node.try_find_child(HOLDER_ID)
    if holder is None:
        holder = HoneyHiveResources(stack, HOLDER_ID)
    elif not isinstance(holder, HoneyHiveResources):
        raise ValueError(f"{stack.node.path} has a construct {HOLDER_ID!r} of its own: HoneyHive needs that id")
    found = holder.node.try_find_child(id)
    return create(holder, id) if found is None else cast(_Child, found)


def child_id(kind: str, text: str) -> str:
    """A deterministic child id for something named by ``text`` (an ARN, a name, possibly a token)."""
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
