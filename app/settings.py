"""The one settings object: defaults in code, ``config.toml`` in the data dir, flags over both."""

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import platformdirs

KPRA_LIVE_URL = "https://kpra.gov.pk/api/rims-integration"
PROTAX_LIVE_URL = "https://api.protax.co.ke/api/v2"
# Which authority this installation reports to (docs/KENYA.md). KPRA's upstream_url is the
# invoice endpoint; the Kenya ones are API bases (…/kra-agent/api/v1, …/api/v2).
UPSTREAMS = ("kpra", "kra-agent", "protax")
UPSTREAM_NAMES = {"kpra": "KPRA", "kra-agent": "KRA eTIMS (KRA Agent)", "protax": "KRA eTIMS (ProTax)"}
KENYA_UPSTREAMS = ("kra-agent", "protax")
FIELD_STYLES = ("live", "utility", "both")
CONFIG_NAME = "config.toml"


@dataclass(frozen=True)
class RetrySettings:
    """DESIGN.md retry policy; small values are only for tests and practice."""

    first_min: float = 5.0  # first retry 5–10 s after a failure (seed)
    first_max: float = 10.0
    cap: float = 300.0  # never wait more than five minutes between tries
    retry_after_max: float = 3600.0  # a 429's Retry-After is honoured up to an hour


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 3000
    upstream: str = "kpra"  # kpra | kra-agent | protax
    upstream_url: str = KPRA_LIVE_URL  # for Kenya: the API base (see upstream_base())
    upstream_ca: Path | None = None  # extra CA file (the practice sandbox's); verification stays on
    field_style: str = "live"  # which field names KPRA gets: live (date, sales_tax), utility, both
    practice: bool = False
    send_concurrency: int = 16  # requests in flight to the authority (100 ms each → 160/s)
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    sending_paused: bool = False
    # Kenya (docs/KENYA.md, "Tax bands"): None = the upstream's default.
    tax_bands: dict[str, object] | None = None  # band letter -> percent, or "exempt"
    prices_include_tax: bool | None = None
    tax_rounding: str | None = None  # "0.01" (cents) or "1" (whole shillings)
    band_tax: str | None = None  # "band" (once per band, the default) or "lines" (Σ lines)
    kra_agent_email: str = ""
    # Kenya: how soon to ask again about a document the authority holds but has not signed yet
    # (ProTax QUEUED/PROCESSING, KRA Agent not_completed); a desktop cannot receive webhooks.
    poll_interval: float = 30.0  # the KRA Agent account (its password/tokens: the OS keyring)
    retry: RetrySettings = field(default_factory=RetrySettings)
    # Automatic database backups into <data_dir>/backups (store/backups.py); small only in tests.
    backup_interval: float = 86400.0  # seconds between daily backups (one at start if due)
    backup_keep: int = 7  # newest backups kept of each reason (daily, before-vN)
    # Localhost security (server/security.py). LAN mode (host not loopback) needs allowed_clients.
    allowed_clients: tuple[str, ...] = ()  # IPs / networks that may post; loopback always may
    allowed_hosts: tuple[str, ...] = ()  # LAN mode: names the tills use for this computer
    idle_timeout: float = 15.0  # close a connection idle (or still sending its headers) this long
    body_timeout: float = 10.0  # a request body must arrive within this many seconds
    # The dashboard (server/session_api.py): a sign-in lasts this long (in memory only: a restart
    # signs everyone out).
    session_lifetime: float = 12 * 3600.0
    # The tray (service/status.py): red after the authority has not answered this long, and a
    # notification when the oldest waiting invoice is older than this many hours.
    red_after_unreachable: float = 3600.0
    stuck_alert_hours: float = 4.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "rims.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def kenya(self) -> bool:
        return self.upstream in KENYA_UPSTREAMS

    @property
    def upstream_base(self) -> str:
        """Where this installation's upstream is: KPRA's endpoint, or a Kenya API base (the KPRA
        default address is not one: ProTax's live base then, and for the KRA Agent, whose
        address each agent provider gives, nothing until setup sets it)."""
        if self.upstream == "kpra" or self.upstream_url != KPRA_LIVE_URL:
            return self.upstream_url.rstrip("/") if self.kenya else self.upstream_url
        return PROTAX_LIVE_URL if self.upstream == "protax" else ""

    def tax_settings(self) -> dict[str, object]:
        """What app.domain.kenya_tax.tax_config takes besides the upstream."""
        return {"rates": self.tax_bands, "prices_include_tax": self.prices_include_tax,
                "rounding": self.tax_rounding, "band_tax": self.band_tax}


class SettingsError(ValueError):
    pass


def default_data_dir() -> Path:
    env = os.environ.get("RIMS_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("rims-utility", appauthor=False))


def load(data_dir: Path | None = None, **overrides: object) -> Settings:
    """Read config.toml under the data dir, then apply command-line overrides (None = not given)."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    return _read(data_dir / CONFIG_NAME, data_dir, overrides)


def _read(config: Path, data_dir: Path, overrides: dict[str, object]) -> Settings:
    """The settings from the TOML file ``config`` (may be missing) with ``overrides``, checked."""
    values = _toml(config)
    known = {f.name for f in fields(Settings)} - {"data_dir"}
    unknown = set(values) - known
    if unknown:
        raise SettingsError(f"{config}: unknown setting(s) {', '.join(sorted(unknown))}")
    retry_values = values.pop("retry", {})
    try:
        retry = RetrySettings(**retry_values)
        settings = Settings(data_dir=data_dir, retry=retry, **values)  # type: ignore[arg-type]
    except TypeError as why:
        raise SettingsError(f"{config}: {why}") from None
    given = {name: value for name, value in overrides.items() if value is not None}
    settings = replace(settings, **given)
    settings = replace(settings, allowed_clients=_names(settings.allowed_clients, "allowed_clients"),
                       allowed_hosts=_names(settings.allowed_hosts, "allowed_hosts"))
    _check(settings)
    return settings


def _toml(config: Path) -> dict[str, object]:
    """The file's entries ({} when there is no file yet)."""
    if not config.exists():
        return {}
    try:
        return tomllib.loads(config.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as why:
        raise SettingsError(f"{config} is not valid TOML: {why}") from None


def save(data_dir: Path, **values: object) -> Settings:
    """Change settings in ``data_dir``'s config.toml (other entries kept; None removes one, so
    the default applies). Checked like a start would check them before the file is replaced
    (atomically); returns the settings now in force from the file."""
    import tomli_w

    config = Path(data_dir) / CONFIG_NAME
    current = _toml(config)
    known = {f.name for f in fields(Settings)} - {"data_dir"}
    for name, value in values.items():
        if name not in known:
            raise SettingsError(f"unknown setting {name}")
        if value is None:
            current.pop(name, None)
        else:
            current[name] = str(value) if isinstance(value, Path) else value
    candidate = config.with_name(CONFIG_NAME + ".new")
    config.parent.mkdir(parents=True, exist_ok=True)
    candidate.write_text(tomli_w.dumps(current), encoding="utf-8")
    try:
        checked = _read(candidate, Path(data_dir), {})
        os.replace(candidate, config)
    finally:
        candidate.unlink(missing_ok=True)
    return checked


def _check(settings: Settings) -> None:
    if settings.upstream not in UPSTREAMS:
        raise SettingsError(f"upstream must be one of {', '.join(UPSTREAMS)}")
    if settings.tax_bands is not None and not isinstance(settings.tax_bands, dict):
        raise SettingsError("tax_bands must be a table of bands A–E, e.g. "
                            "tax_bands = { B = 16, E = 8, A = \"exempt\" }")
    if settings.kenya:
        from app.domain.kenya_tax import tax_config

        try:
            tax_config(settings.upstream, **settings.tax_settings())  # type: ignore[arg-type]
        except ValueError as why:
            raise SettingsError(str(why)) from None
    if settings.field_style not in FIELD_STYLES:
        raise SettingsError(f"field_style must be one of {', '.join(FIELD_STYLES)}")
    if not settings.upstream_url.startswith("https://"):
        raise SettingsError("upstream_url must be an https:// address (KPRA requires HTTPS)")
    if not (0 <= settings.port <= 65535):
        raise SettingsError("port must be between 0 and 65535")
    if settings.poll_interval <= 0:
        raise SettingsError("poll_interval must be more than 0 seconds")
    if settings.send_concurrency < 1:
        raise SettingsError("send_concurrency must be at least 1")
    if settings.backup_interval <= 0 or settings.backup_keep < 1:
        raise SettingsError("backup_interval must be more than 0 seconds and backup_keep at "
                            "least 1")
    if settings.upstream_ca is not None and not Path(settings.upstream_ca).is_file():
        raise SettingsError(f"upstream CA file {settings.upstream_ca} does not exist")
    for entry in settings.allowed_clients:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(f"allowed_clients: {entry!r} is not an IP address or network "
                                "(e.g. 192.168.1.20 or 192.168.1.0/24)") from None
    for entry in settings.allowed_hosts:
        if "/" in entry or any(c.isspace() for c in entry):
            raise SettingsError(f"allowed_hosts: {entry!r} is not a host name (e.g. shop-pc)")
    if settings.idle_timeout <= 0 or settings.body_timeout <= 0:
        raise SettingsError("idle_timeout and body_timeout must be more than 0 seconds")
    if settings.session_lifetime <= 0:
        raise SettingsError("session_lifetime must be more than 0 seconds")
    if settings.red_after_unreachable <= 0 or settings.stuck_alert_hours <= 0:
        raise SettingsError("red_after_unreachable and stuck_alert_hours must be more than 0")


def _names(value: object, name: str) -> tuple[str, ...]:
    """A list setting (TOML array or repeated flag) as a tuple of non-empty strings."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise SettingsError(f"{name} must be a list, e.g. {name} = [\"192.168.1.20\"]")
    if not all(isinstance(item, str) and item.strip() for item in value):
        raise SettingsError(f"{name} must be a list of non-empty strings")
    return tuple(item.strip() for item in value)
