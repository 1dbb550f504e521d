"""The panel registry: each feature adds its panel to the sidebar by registering a ``PanelSpec``.

A panel is a ``QWidget`` built by ``factory(client, parent)``; it talks to the engine only through
the ``EngineClient`` it is given. Optional hook: ``panel.on_shown()`` when it becomes visible.
The sidebar icon is ``desktop/resources/<icon_name>.svg`` (default: the panel id), drawn with
``currentColor`` so it follows the light or dark palette.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from desktop.engine_client import EngineClient

# Packages whose import registers a panel; later features append theirs.
PANEL_MODULES: list[str] = [
    "desktop.panels.models",
    "desktop.panels.activity",
    "desktop.panels.chat",
    "desktop.panels.documents",
    "desktop.panels.datasets",
    "desktop.panels.training",
    "desktop.panels.pruning",
    "desktop.panels.bias",
    "desktop.panels.evaluate",
]


@dataclass(frozen=True)
class PanelSpec:
    id: str
    title: str
    factory: Callable[[EngineClient, QWidget | None], QWidget]
    order: int = 100
    tooltip: str = ""
    icon_name: str = ""

    @property
    def icon(self) -> str:
        """The resource name of the sidebar icon."""
        return self.icon_name or self.id


_PANELS: dict[str, PanelSpec] = {}


def register_panel(spec: PanelSpec) -> None:
    _PANELS[spec.id] = spec


def panels() -> list[PanelSpec]:
    for module in PANEL_MODULES:
        importlib.import_module(module)
    return sorted(_PANELS.values(), key=lambda s: (s.order, s.title))
