"""Configuration: one pydantic-settings model for environment variables and CLI flags.

Every field is ``INFINO_<NAME>`` in the environment and ``--<name>`` on the
command line (underscores become dashes); flags win over the environment.
The README's environment table is generated from this model.
"""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from infino_mcp.errors import ConfigError


class Toolset(enum.StrEnum):
    """API categories; each tool belongs to exactly one."""

    DATASETS = "datasets"
    QUERY = "query"
    CONNECTIONS = "connections"
    VISUALIZATIONS = "visualizations"
    DASHBOARDS = "dashboards"
    FINO = "fino"
    RBAC = "rbac"


DEFAULT_TOOLSETS = (Toolset.DATASETS, Toolset.QUERY, Toolset.VISUALIZATIONS, Toolset.DASHBOARDS, Toolset.FINO)


def default_data_dir() -> Path:
    """Where local data lives: the user's data directory, never a relative path."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "infino-mcp"


class Settings(BaseSettings):
    """infino-mcp settings. Field descriptions feed ``--help`` and the README."""

    model_config = SettingsConfigDict(env_prefix="INFINO_", extra="forbid", populate_by_name=True)

    endpoint: str | None = Field(None, description="Infino endpoint URL (https://...). Unset: local mode.")
    access_key: SecretStr | None = Field(None, description="Infino access key (with the secret key and endpoint).")
    secret_key: SecretStr | None = Field(None, description="Infino secret key.")
    region: str = Field("us-east-1", description="SigV4 signing region.")
    service: str = Field("es", description="SigV4 signing service name.")
    local: bool = Field(
        False,
        description="Use the embedded local endpoint even if credentials are set; `--local DIR` also sets data_dir.",
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="Local mode: where the data lives.")
    sample_data: bool = Field(True, description="Local mode: load the sample dataset on first start.")
    toolsets: Annotated[list[Toolset], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_TOOLSETS),
        description="Comma-separated toolsets to expose (datasets, query, connections, visualizations, dashboards, "
        "fino, rbac) or 'all'.",
    )
    read_only: bool = Field(False, description="Expose only tools that never change anything.")
    allow_destructive: bool = Field(
        False, description="Allow delete/clear/rotate tools to run without asking the user to confirm."
    )
    file_root: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Comma-separated directories upload_file may read from (none by default)."
    )
    transport: Literal["stdio", "streamable-http", "sse"] = Field(
        "stdio", description="MCP transport: stdio, streamable-http or sse."
    )
    host: str = Field("127.0.0.1", description="HTTP transports: address to bind.")
    port: int = Field(8000, ge=0, le=65535, description="HTTP transports: port to bind (0: any free port).")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="HTTP transports: extra Host names (and their http/https origins) to accept, comma-separated.",
    )
    mcp_token: SecretStr | None = Field(
        None, description="Bearer token HTTP clients must send; required when binding a non-loopback address."
    )
    timeout: float = Field(60.0, gt=0, le=600, description="Seconds to wait for one HTTP response.")
    connect_timeout: float = Field(10.0, gt=0, le=120, description="Seconds to wait for a connection.")
    max_retries: int = Field(
        3, ge=0, le=10, description="Retries for idempotent requests on 5xx, 429 and network errors."
    )
    retry_backoff: float = Field(0.5, ge=0, le=30, description="First retry delay in seconds (doubles, with jitter).")
    retry_deadline: float = Field(90.0, gt=0, le=900, description="Total seconds one call may spend including retries.")
    max_result_bytes: int = Field(
        24_000,
        ge=2_000,
        le=1_000_000,
        description="Byte budget for the rows or items of one tool result (2000 to 1000000); the rest is paged.",
    )
    dashboard_concurrency: int = Field(16, ge=1, le=64, description="Panels execute_dashboard runs at once.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING", description="Log level on stderr: DEBUG, INFO, WARNING or ERROR."
    )

    @field_validator("toolsets", mode="before")
    @classmethod
    def _parse_toolsets(cls, value: object) -> object:
        if isinstance(value, str):
            names = [part.strip().lower() for part in value.split(",") if part.strip()]
            if names == ["all"]:
                return list(Toolset)
            unknown = sorted(set(names) - {t.value for t in Toolset})
            if unknown:
                raise ValueError(
                    f"unknown toolset(s) {', '.join(unknown)}; choose from {', '.join(t.value for t in Toolset)} or 'all'"
                )
            return names
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _parse_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("file_root", mode="before")
    @classmethod
    def _parse_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(part.strip()) for part in value.split(",") if part.strip()]
        return value

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for a local endpoint)")
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> Settings:
        given = {
            "INFINO_ENDPOINT": self.endpoint,
            "INFINO_ACCESS_KEY": self.access_key,
            "INFINO_SECRET_KEY": self.secret_key,
        }
        if not self.local and any(given.values()) and not all(given.values()):
            missing = ", ".join(name for name, value in given.items() if not value)
            raise ValueError(
                f"{missing} missing: set all of INFINO_ENDPOINT, INFINO_ACCESS_KEY and INFINO_SECRET_KEY, or none for local mode"
            )
        if self.transport != "stdio" and not _is_loopback(self.host) and self.mcp_token is None:
            raise ValueError(
                f"binding {self.host} needs INFINO_MCP_TOKEN: any other address than loopback requires a bearer token"
            )
        return self

    @property
    def uses_local(self) -> bool:
        """True when the embedded local endpoint backs the server."""
        return self.local or self.endpoint is None


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment plus ``overrides``; ConfigError with one clear line when invalid."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        name = f"--{where.replace('_', '-')} / INFINO_{where.upper()}" if where else "configuration"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}" if where else message) from None
