"""Emitters: writers of a translated graph, keyed by target name (``"ir"`` for OpenVINO IR)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .errors import PluginError, UsageError

if TYPE_CHECKING:
    from .config import ConvertConfig
    from .graph import Graph

Emitter = Callable[["Graph", Path, "ConvertConfig"], "list[Path]"]


@dataclass(frozen=True)
class EmitterEntry:
    target: str
    write: Emitter
    plugin: str
    description: str = ""


class EmitterRegistry:
    def __init__(self) -> None:
        self.current_plugin = "?"
        self._entries: dict[str, EmitterEntry] = {}

    def add(self, target: str, write: Emitter, description: str = "") -> None:
        """Offer ``write(graph, directory, config) -> written files`` for ``--target target``."""
        if target in self._entries:
            msg = (f"emitter target {target!r} is registered by both "
                   f"{self._entries[target].plugin} and {self.current_plugin}")
            raise PluginError(msg)
        self._entries[target] = EmitterEntry(target, write, self.current_plugin, description)

    def get(self, target: str) -> EmitterEntry:
        if target not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none (is tfconv-ir-backend installed?)"
            msg = f"no emitter for target {target!r}; installed targets: {known}"
            raise UsageError(msg)
        return self._entries[target]

    def targets(self) -> list[str]:
        return sorted(self._entries)
