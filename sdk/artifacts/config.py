"""Where models live on this machine: ``StoreConfig``, resolved by ``sdk.settings`` (argument, then environment
variable, then default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.settings import env, resolve, xdg_cache_home


@record(kw_only=True)
class StoreConfig:
    """Where models live on this machine. The built-in store (models shipped inside the package) is read-only."""

    root: Path = env("AIAAS_STORE", None, help="local model store root (default: ~/.cache/aiaas/models)")
    include_builtin: bool = env(
        "AIAAS_INCLUDE_BUILTIN", True, help="also look up the models shipped inside the package"
    )

    def __post_init__(self) -> None:
        # Resolved here, not at import, so XDG_CACHE_HOME set after `import sdk` still counts.
        root = xdg_cache_home() / "models" if self.root is None else Path(self.root).expanduser()
        object.__setattr__(self, "root", root)

    @classmethod
    def from_env(cls, **arguments: Any) -> StoreConfig:
        return resolve(cls, **arguments)
