"""
The in-memory presence store: one process, no server.

Entries live in a dictionary of the process, shared by its event loops and
threads (a sync ``presence()`` in a worker thread sees the server's
connections). Nothing outlives the process, so there is nothing to sweep:
a connection's entry goes when the connection ends.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from .presence_store import PresenceStore

__all__ = ["MemoryPresenceStore"]

_lock = threading.Lock()
# group -> key -> connection -> meta (JSON text)
_entries: dict[str, dict[str, dict[str, str]]] = {}


class MemoryPresenceStore(PresenceStore):
    """Presence within this process."""

    shared = False

    async def join(self, group: str, connection: str, key: str, meta: str) -> bool:
        """Add the entry; True if the key had no connection in the group."""
        with _lock:
            keys = _entries.setdefault(group, {})
            connections = keys.setdefault(key, {})
            if connection in connections:
                return False
            connections[connection] = meta
            return len(connections) == 1

    async def leave(self, group: str, connection: str, key: str) -> bool:
        """Remove the entry; True if it was the key's last in the group."""
        with _lock:
            keys = _entries.get(group)
            connections = None if keys is None else keys.get(key)
            if connections is None or connections.pop(connection, None) is None:
                return False
            if connections:
                return False
            del keys[key]  # type: ignore[union-attr]
            if not keys:
                del _entries[group]
            return True

    async def members(self, group: str) -> dict[str, dict[str, Any]]:
        """Return the group's entries, decoded."""
        with _lock:
            copied = {
                key: dict(connections)
                for key, connections in _entries.get(group, {}).items()
            }
        return {
            key: {connection: json.loads(meta) for connection, meta in conns.items()}
            for key, conns in copied.items()
        }
