"""Where the decision log lives and how it writes: argument, then environment variable, then default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.errors import ConfigError
from sdk.settings import env, resolve, xdg_state_home


def default_audit_dir() -> Path:
    """``$XDG_STATE_HOME/aiaas/audit`` (``~/.local/state/aiaas/audit``): the XDG home for logs and history, which,
    unlike the cache, a user does not expect to be wiped to free space."""
    return xdg_state_home() / "audit"


@record(kw_only=True)
class AuditConfig:
    """The decision log's settings. On by default (see ``sdk.client.audit``); ``AIAAS_AUDIT=0`` turns it off."""

    enabled: bool = env("AIAAS_AUDIT", True, help="keep the decision log of where each call's data went (on|off)")
    directory: Path | None = env(
        "AIAAS_AUDIT_DIR", None, help="folder of the decision log (default: $XDG_STATE_HOME/aiaas/audit)"
    )
    key: Path | None = env(
        "AIAAS_AUDIT_KEY",
        None,
        help="private key (`sdk keys create`) that signs the log's checkpoints, so `sdk audit verify --key` can "
        "tell a log replaced as a whole",
    )
    max_bytes: int = env("AIAAS_AUDIT_MAX_BYTES", 4 * 1024 * 1024, help="size at which the log file is rotated")
    max_files: int = env("AIAAS_AUDIT_MAX_FILES", 5, help="log files kept, the current one included")
    flush_interval_s: float = env(
        "AIAAS_AUDIT_FLUSH_INTERVAL", 1.0, help="seconds between background writes of the buffered records"
    )
    flush_records: int = env("AIAAS_AUDIT_FLUSH_RECORDS", 256, help="buffered records that trigger a write early")
    checkpoint_every: int = env(
        "AIAAS_AUDIT_CHECKPOINT_EVERY", 1000, help="records between signed checkpoints (with AIAAS_AUDIT_KEY)"
    )

    def __post_init__(self) -> None:
        if self.max_bytes < 1024 or self.max_files < 1:
            raise ConfigError("the decision log needs max_bytes >= 1024 and max_files >= 1")
        if self.flush_interval_s <= 0 or self.flush_records < 1 or self.checkpoint_every < 1:
            raise ConfigError("flush_interval_s must be > 0, flush_records and checkpoint_every >= 1")
        folder = default_audit_dir() if self.directory is None else Path(self.directory).expanduser()
        object.__setattr__(self, "directory", folder)
        if self.key is not None:
            object.__setattr__(self, "key", Path(self.key).expanduser())

    @property
    def folder(self) -> Path:
        assert self.directory is not None  # set by __post_init__
        return self.directory

    @classmethod
    def from_env(cls, **arguments: Any) -> AuditConfig:
        return resolve(cls, **arguments)
