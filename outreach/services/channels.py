"""Which adapter serves each channel of a workspace, built on first use from `outreach.yaml`
and the environment (secrets are read from the variables the config names, nowhere else).

Every adapter is wrapped so that what it answers never carries a secret: a provider's error
that echoes our credentials is redacted before it reaches the outbox, a log or a report."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from outreach.adapters.channels import Channel, Confirming, Probing
from outreach.adapters.sources.files import Boundary, Refused
from outreach.core.config import (
    Config,
    FileChannel,
    SendGridChannel,
    SinkChannel,
    SmtpChannel,
    WebhookChannel,
    WebhookSettings,
)
from outreach.core.delivery import Delivery
from outreach.core.outgoing import Outgoing
from outreach.redaction import Redactor

log = logging.getLogger(__name__)

CHANNELS = ("email", "gifts", "tasks", "webhook")
DEFAULT_TIMEOUT = 10.0  # seconds, for channels without their own (a file)


class Unusable(Exception):
    """A channel that cannot send at all (not configured, a secret missing); says why."""


class ChannelSet:
    def __init__(
        self,
        config: Config,
        root: Path,
        environ: Mapping[str, str],
        overrides: Mapping[str, Channel] | None = None,
    ) -> None:
        self.config = config
        self.root = root
        self.environ = environ
        self.redact = redactor(config, environ)
        self.built: dict[str, Channel | Unusable] = {
            name: Redacted(channel, self.redact) for name, channel in (overrides or {}).items()
        }

    def get(self, name: str) -> Channel:
        """The channel's adapter; raises Unusable, with the reason, when there is none."""
        if name not in self.built:
            try:
                self.built[name] = Redacted(self._build(name), self.redact)
            except Unusable as exc:
                self.built[name] = exc
        found = self.built[name]
        if isinstance(found, Unusable):
            raise found
        return found

    def problem(self, name: str) -> str | None:
        """Why the channel cannot send at all just now (a secret missing, a sink that cannot
        be written), or None; nothing is sent."""
        try:
            channel = self.get(name)
        except Unusable as exc:
            return str(exc)
        found = channel.unwritable() if isinstance(channel, Probing) else None
        return self.redact(found) if found else None

    def time_limit(self, name: str) -> float:
        """Seconds one send may take in all: connecting, writing, a slow answer."""
        settings = getattr(self.config.channels, name, None)
        timeout = getattr(settings, "timeout", None) or DEFAULT_TIMEOUT
        return 3 * float(timeout) + 5

    def concurrency(self, name: str) -> int:
        """How many of the channel's sends may be under way at once (one: a file sink)."""
        channels = self.config.channels
        settings = (channels.webhook or WebhookSettings()) if name == "webhook" else None
        return int(getattr(settings or getattr(channels, name, None), "concurrency", 1))

    def _build(self, name: str) -> Channel:
        channels = self.config.channels
        if name == "email" and channels.email is not None:
            if isinstance(channels.email, SendGridChannel):
                return self._sendgrid(channels.email)
            return self._smtp(channels.email)
        if name in ("gifts", "tasks") and getattr(channels, name) is not None:
            return self._sink(name, getattr(channels, name))
        if name == "webhook":
            return self._webhook(channels.webhook or WebhookSettings())
        raise Unusable(f"no channels.{name} in outreach.yaml")

    def _sendgrid(self, settings: SendGridChannel) -> Channel:
        from outreach.adapters.channels.sendgrid import SendGridChannel as Adapter

        return Adapter(settings, self._secret(settings.api_key_env))

    def _smtp(self, settings: SmtpChannel) -> Channel:
        from outreach.adapters.channels.smtp import SmtpChannel as Adapter

        username = self._secret(settings.username_env) if settings.username_env else None
        password = self._secret(settings.password_env) if settings.password_env else None
        return Adapter(settings, username, password)

    def _sink(self, name: str, settings: SinkChannel) -> Channel:
        if isinstance(settings, FileChannel):
            from outreach.adapters.channels.files import FileChannel as Adapter

            within = Boundary.of(self.root, self.config.outside_workspace)
            try:
                path = within.confine(self.root / Path(settings.path).expanduser())
            except Refused as exc:
                raise Unusable(f"channels.{name}.path: {settings.path}: {exc}") from None
            return Adapter(path, within)
        return self._webhook(settings)

    def _webhook(self, settings: WebhookChannel | WebhookSettings) -> Channel:
        from outreach.adapters.channels.webhook import WebhookChannel as Adapter

        secret = self._secret(settings.secret_env) if settings.secret_env else None
        url = settings.url if isinstance(settings, WebhookChannel) else None
        return Adapter(url, secret, settings.timeout, self.config.network.allow_private)

    def _secret(self, variable: str) -> str:
        value = self.environ.get(variable, "")
        if not value.strip():
            raise Unusable(f"the environment variable {variable} is not set")
        if any(c.isspace() for c in value.strip()) or not value.isprintable():
            raise Unusable(f"{variable} holds spaces or line breaks; set it again")
        return value.strip()


def named_variables(config: Config) -> dict[str, str]:
    """Every environment variable outreach.yaml names, by the setting that names it."""
    channels = config.channels
    named = {
        f"channels.{name}.{field}": getattr(getattr(channels, name), field, None)
        for name in ("email", "gifts", "tasks", "webhook")
        for field in ("api_key_env", "username_env", "password_env", "secret_env")
    }
    named |= {
        f"data.{kind}.{field}": getattr(source, field)
        for kind, source in config.data.sql_sources().items()
        for field in ("url_env", "password_env")
    }
    return {setting: variable for setting, variable in named.items() if variable}


def redactor(config: Config, environ: Mapping[str, str]) -> Redactor:
    """What must never be stored or printed: the values of the variables `outreach.yaml`
    names for secrets (a username is not one: it only counts with its password)."""

    def value(variable: str | None) -> str:
        return environ.get(variable or "", "").strip()

    channels, email = config.channels, config.channels.email
    sinks = [channels.gifts, channels.tasks, channels.webhook]
    secrets = [value(getattr(sink, "secret_env", None)) for sink in sinks]
    carriers: list[str] = []  # how a secret travels, base64-encoded whole
    if isinstance(email, SendGridChannel) and (key := value(email.api_key_env)):
        secrets.append(key)
        carriers.append(f"Bearer {key}")
    elif isinstance(email, SmtpChannel) and (password := value(email.password_env)):
        user = value(email.username_env)
        secrets.append(password)
        plain = [f"\0{user}\0{password}", f"{user}\0{user}\0{password}"]  # SMTP AUTH PLAIN
        carriers += [*plain, f"{user}:{password}"]  # and HTTP Basic
    secrets += database_secrets(config, environ)
    return Redactor.of(secrets, carriers)


def database_secrets(config: Config, environ: Mapping[str, str]) -> list[str]:
    """The passwords of the SQL sources outreach.yaml names (from password_env, or inside
    the URL url_env holds)."""
    found = []
    for source in config.data.sql_sources().values():
        if source.password_env:
            found.append(environ.get(source.password_env, ""))
        if source.url_env:
            try:
                found.append(unquote(urlsplit(environ.get(source.url_env, "")).password or ""))
            except ValueError:
                continue
    return [secret for secret in found if secret]


class Redacted:
    """A channel whose answers carry no secret; like every channel, it never raises."""

    def __init__(self, channel: Channel, redact: Redactor) -> None:
        self.channel = channel
        self.redact = redact

    def send(self, message: Outgoing) -> Delivery:
        try:
            delivery = self.channel.send(message)
        except Exception as exc:
            log.exception("the %s channel failed on %s", message.channel, message.key)
            delivery = unexpected(exc, message.channel)
        return self.redact.delivery(delivery)

    def unwritable(self) -> str | None:
        return self.channel.unwritable() if isinstance(self.channel, Probing) else None

    def confirm(self, message: Outgoing) -> bool | None:
        """Did this message arrive? None when the channel cannot tell."""
        return self.channel.confirm(message) if isinstance(self.channel, Confirming) else None


def unexpected(exc: Exception, channel: str) -> Delivery:
    """A surprise inside an adapter: worth another try."""
    error = f"unexpected {type(exc).__name__} in the {channel} channel: {exc}"
    return Delivery("retry", error=" ".join(error.split()))
