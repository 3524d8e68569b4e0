"""Which adapter serves each channel of a workspace, built on first use from `outreach.yaml`
and the environment (secrets are read from the variables the config names, nowhere else)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from outreach.adapters.channels import Channel
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
        self.built: dict[str, Channel | Unusable] = dict(overrides or {})

    def get(self, name: str) -> Channel:
        """The channel's adapter; raises Unusable, with the reason, when there is none."""
        if name not in self.built:
            try:
                self.built[name] = self._build(name)
            except Unusable as exc:
                self.built[name] = exc
        found = self.built[name]
        if isinstance(found, Unusable):
            raise found
        return found

    def time_limit(self, name: str) -> float:
        """Seconds one send may take in all: connecting, writing, a slow answer."""
        settings = getattr(self.config.channels, name, None)
        timeout = getattr(settings, "timeout", None) or DEFAULT_TIMEOUT
        return 3 * float(timeout) + 5

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
