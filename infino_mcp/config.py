"""Configuration: one pydantic-settings model for environment variables and CLI flags.

Every field is ``INFINO_<NAME>`` in the environment and ``--<name>`` on the
command line (underscores become dashes); flags win over the environment.
The README's environment table is generated from this model.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
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
    KNOWLEDGE = "knowledge"


# Explore, query, load (files too), chart and share, with the datasets' knowledge; connections, fino and rbac are
# opt-in (instructions.py tells the model what is not loaded and why).
DEFAULT_TOOLSETS = (Toolset.DATASETS, Toolset.QUERY, Toolset.VISUALIZATIONS, Toolset.DASHBOARDS, Toolset.KNOWLEDGE)


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

    endpoint: str | None = Field(default=None, description="Infino endpoint URL (https://...). Unset: local mode.")
    access_key: SecretStr | None = Field(
        default=None, description="Infino access key (with the secret key and endpoint)."
    )
    secret_key: SecretStr | None = Field(default=None, description="Infino secret key.")
    region: str = Field("us-east-1", description="SigV4 signing region.")
    service: str = Field("es", description="SigV4 signing service name.")
    local: bool = Field(
        False,
        description="Use the embedded local endpoint even if credentials are set; `--local DIR` also sets data_dir.",
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="Local mode: where the data lives.")
    sample_data: bool = Field(default=True, description="Local mode: load the sample dataset on first start.")
    memory_budget: int = Field(
        default=2048,
        ge=0,
        description="Local mode: MiB of memory the engine may hold for queries and ingest (0: no cap); "
        "a query over it is refused with a 400.",
    )
    toolsets: Annotated[list[Toolset], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_TOOLSETS),
        description="Comma-separated toolsets to expose (datasets, query, connections, visualizations, dashboards, "
        "fino, rbac, knowledge) or 'all'.",
    )
    read_only: bool = Field(default=False, description="Expose only tools that never change anything.")
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
    auth: Literal["token", "infino-keys", "oauth"] = Field(
        "token",
        validation_alias="INFINO_MCP_AUTH",
        description="Streamable HTTP: who callers are. token: one shared bearer token, one Infino key pair. "
        "infino-keys: each client sends its own keys in X-Infino-Access-Key / X-Infino-Secret-Key. "
        "oauth: OAuth 2.1 bearer JWTs, each identity mapped to its keys in the identities file.",
    )
    oauth_issuer: str | None = Field(default=None, description="--auth oauth: the authorization server's issuer URL.")
    oauth_audience: str | None = Field(
        None, description="--auth oauth: the token audience required (default: this server's /mcp URL)."
    )
    oauth_jwks_url: str | None = Field(
        None, description="--auth oauth: the issuer's JWKS URL (default: jwks_uri from the issuer's metadata)."
    )
    oauth_identity_claim: str = Field("sub", description="--auth oauth: the token claim naming the person.")
    oauth_required_scopes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["infino:read"],
        description="--auth oauth: comma-separated scopes every token needs; infino:write also allows tools "
        "that change data.",
    )
    identities: Path | None = Field(
        None, description="--auth oauth: the identities file (0600) mapping identities to Infino keys."
    )
    stateless: bool = Field(
        False,
        validation_alias="INFINO_MCP_STATELESS",
        description="Streamable HTTP: keep no per-session state, so replicas behind a load balancer can serve "
        "one client (needs INFINO_MCP_STATE_KEY).",
    )
    mcp_state_key: SecretStr | None = Field(
        None,
        description="Secret (32+ characters) every replica shares to seal confirmation state between requests.",
    )
    timeout: float = Field(60.0, gt=0, le=600, description="Seconds to wait for one HTTP response.")
    connect_timeout: float = Field(10.0, gt=0, le=120, description="Seconds to wait for a connection.")
    max_response_mb: int = Field(
        256, ge=1, le=4096, description="Largest answer one Infino request may return, in MB; a larger one is refused."
    )
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
    profile_cache_seconds: float = Field(
        300.0, ge=0, le=86_400, description="Seconds profile_dataset reuses a computed profile (0: always recompute)."
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
            if not names:  # an empty value (a bundle's unanswered option) means the default
                return list(DEFAULT_TOOLSETS)
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

    @field_validator("allowed_hosts", "oauth_required_scopes", mode="before")
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

    @field_validator("mcp_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty or blank: set a real token (e.g. secrets.token_urlsafe(32)) or unset it")
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
        if self.auth != "token":
            given = {"INFINO_ENDPOINT": self.endpoint} if self.endpoint else {}
        if not self.local and any(given.values()) and not all(given.values()):
            missing = ", ".join(name for name, value in given.items() if not value)
            raise ValueError(
                f"{missing} missing: set all of INFINO_ENDPOINT, INFINO_ACCESS_KEY and INFINO_SECRET_KEY, or none for local mode"
            )
        _check_http_modes(self)
        if (
            self.transport != "stdio"
            and not _is_loopback(self.host)
            and self.mcp_token is None
            and self.auth == "token"
        ):
            raise ValueError(
                f"binding {self.host} needs INFINO_MCP_TOKEN: any other address than loopback requires a bearer token"
            )
        return self

    @property
    def per_user(self) -> bool:
        """True when each HTTP caller's own Infino keys sign its requests."""
        return self.auth != "token"

    @property
    def uses_local(self) -> bool:
        """True when the embedded local endpoint backs the server."""
        return self.local or self.endpoint is None


def env_var(name: str) -> str:
    """The environment variable of a settings field."""
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else f"INFINO_{name.upper()}"


def _check_http_modes(settings: Settings) -> None:
    """--auth other than token, and --stateless, need streamable HTTP and their own settings."""
    if (settings.auth != "token" or settings.stateless) and settings.transport != "streamable-http":
        raise ValueError("--auth infino-keys / oauth and --stateless need --transport streamable-http")
    if settings.auth == "oauth":
        if not settings.oauth_issuer or not settings.identities:
            raise ValueError("--auth oauth needs --oauth-issuer and --identities FILE (see 'infino-mcp identities')")
        if settings.host in ("0.0.0.0", "::") and not (settings.oauth_audience or "").startswith("http"):
            raise ValueError("--auth oauth on all interfaces needs --oauth-audience: the https URL clients use")
    if settings.auth != "token" and settings.mcp_token is not None:
        raise ValueError(f"--auth {settings.auth} replaces INFINO_MCP_TOKEN: unset it")
    if settings.stateless:
        key = settings.mcp_state_key.get_secret_value() if settings.mcp_state_key else ""
        if len(key.encode()) < 32:
            raise ValueError(
                "--stateless needs INFINO_MCP_STATE_KEY: a secret of 32+ characters shared by every replica"
            )


def _is_loopback(host: str) -> bool:
    """By address, never by spelling: ``127.0.0.1.nip.io`` is a name anyone's DNS may point anywhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment plus ``overrides``; ConfigError with one clear line when invalid."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        field = next((n for n, f in Settings.model_fields.items() if where in (n, f.validation_alias)), where)
        name = f"--{field.replace('_', '-')} / {env_var(field)}" if field in Settings.model_fields else "configuration"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}" if where else message) from None
