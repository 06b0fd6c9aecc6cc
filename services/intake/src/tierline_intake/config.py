"""Intake's settings (environment, TIERLINE_ prefix) and its YAML configuration."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from tierline_intake.domain.alerts import DEFAULT_SEVERITY_RULES, SeverityRule
from tierline_shared.config_files import load_yaml, parse_duration
from tierline_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8001
    priority_file: str = Field(
        default="priority.yaml", description="Impact and urgency to priority matrix, in the config folder."
    )
    knowledge_file: str = Field(
        default="knowledge.yaml", description="Runbook links per category, in the config folder."
    )
    reopen_window_seconds: float = Field(
        default=7 * 86400, gt=0, description="How long a resolved incident may reopen (seconds)."
    )
    first_contact_live_seconds: float = Field(
        default=900,
        gt=0,
        description="Reports (FCR): a phone or chat incident resolved within this many seconds of its "
        "creation (wall clock) was resolved on first contact.",
    )
    first_contact_seconds: float = Field(
        default=3600,
        gt=0,
        description="Reports (FCR): the first-contact window of email, web, api and monitoring incidents, "
        "in business seconds of their resolution SLA clock (wall clock when the SLA monitor reported none).",
    )
    # -- the email channel (mail in becomes an incident; see mail/)
    mail_listen: str = Field(
        default="",
        description="host:port the SMTP receiver listens on (e.g. 127.0.0.1:2525); empty: no receiver.",
    )
    mail_mailboxes_file: str = Field(
        default="mailboxes.yaml",
        description="The addresses mail is taken for (address -> service, category, impact, urgency, type), "
        "in the config folder.",
    )
    mail_max_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Larger mails are refused at DATA (SMTP 552)."
    )
    mail_attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=0,
        description="Attachment content stored per mail; attachments beyond it are listed, not stored.",
    )
    mail_rate: str = Field(
        default="20/10m",
        description="Mails per sender and window (count/duration, e.g. 20/10m); more are held, not turned "
        "into incidents.",
    )
    mail_tls_cert: str = Field(
        default="", description="PEM certificate for STARTTLS on the SMTP receiver (with mail_tls_key)."
    )
    mail_tls_key: str = Field(default="", description="PEM private key for STARTTLS on the SMTP receiver.")
    mail_auth_users: SecretStr | None = Field(
        default=None,
        description="Relays that may send, as user:scrypt$N$r$p$salt-base64$hash-base64 (a salted scrypt "
        "hash of the password), comma-separated; set: AUTH is required, and offered only after STARTTLS "
        "when a certificate is set. Unset: no AUTH.",
    )
    mail_max_connections: int = Field(
        default=20,
        gt=0,
        description="SMTP connections at once; more are answered 421 4.3.2 and closed.",
    )

    # -- IMAP fetching, the alternative to the SMTP receiver (see mail/imap.py)
    imap_host: str = Field(
        default="", description="IMAP server to fetch mail from (e.g. imap.example.com); empty: no fetching."
    )
    imap_port: int = Field(
        default=0, ge=0, lt=65536, description="IMAP port; 0: 993 for imaps, 143 otherwise."
    )
    imap_username: str = Field(default="", description="The mailbox's IMAP user.")
    imap_password: SecretStr | None = Field(default=None, description="The mailbox's IMAP password.")
    imap_tls: Literal["imaps", "starttls", "none"] = Field(
        default="imaps",
        description="imaps: TLS from the start; starttls: TLS before LOGIN; none: plain (loopback only).",
    )
    imap_ca_file: str = Field(
        default="",
        description="PEM bundle of CA certificates trusted for the IMAP server besides the system's (a "
        "private CA); empty: the system's only.",
    )
    imap_folder: str = Field(default="INBOX", min_length=1, description="The folder mail is taken from.")
    imap_processed_folder: str = Field(
        default="Processed",
        min_length=1,
        description="Where a mail goes once taken in (created when missing); only after its commit.",
    )
    imap_poll_seconds: float = Field(
        default=60, gt=0, description="How often the folder is searched when the server has no IDLE."
    )
    imap_mailbox: str = Field(
        default="",
        description="The mailboxes.yaml address the IMAP account receives mail for: every mail fetched is "
        "for it, whatever its To or Delivered-To say (required with imap_host).",
    )
    imap_allow_plain: bool = Field(
        default=False,
        description="Allow imap_tls=none for a server that is not on this host (the password in clear).",
    )

    @field_validator("mail_listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("must be host:port, e.g. 127.0.0.1:2525")
        return value

    @field_validator("imap_folder", "imap_processed_folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not value.isascii() or not value.isprintable() or any(c in value for c in '"\\%*'):
            raise ValueError("must be printable ASCII without quotes, backslashes, % or *")
        return value

    @model_validator(mode="after")
    def _imap_login(self) -> Settings:
        if not self.imap_host:
            return self
        if not (self.imap_username and self.imap_password):
            raise ValueError("imap_host is set: imap_username and imap_password are required too")
        if self.imap_tls == "none" and not self.imap_allow_plain and not is_loopback(self.imap_host):
            raise ValueError(
                f"imap_tls=none sends the IMAP password in clear to {self.imap_host!r}, which is not this "
                "host: use imaps or starttls (or set imap_allow_plain=true to accept that)"
            )
        if not self.imap_mailbox:
            raise ValueError(
                "imap_host is set: imap_mailbox (the mailboxes.yaml address it receives) is required"
            )
        from tierline_intake.mail.mailboxes import load_mailboxes  # it reads these settings

        if load_mailboxes(self).find(self.imap_mailbox) is None:
            path = self.config_dir / self.mail_mailboxes_file
            raise ValueError(f"imap_mailbox {self.imap_mailbox!r} is not one of the addresses of {path}")
        return self

    @field_validator("mail_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        mail_rate(value)
        return value

    @field_validator("mail_auth_users", mode="before")
    @classmethod
    def _auth_users(cls, value: object) -> object:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None  # empty, as compose passes an unset one: no AUTH
        if isinstance(raw, str):
            mail_auth_users(raw)
        return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (localhost, 127.0.0.0/8, ::1) without asking DNS."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def mail_rate(value: str) -> tuple[int, float]:
    """'20/10m' -> (20, 600.0): at most that many mails per sender in that many seconds."""
    count, sep, window = value.partition("/")
    if not sep or not count.strip().isdigit() or int(count) < 1:
        raise ValueError("must be count/window with a positive count, e.g. 20/10m")
    seconds = parse_duration(window.strip()).total_seconds()
    if seconds <= 0:
        raise ValueError("the window must be longer than zero")
    return int(count), seconds


# scrypt (RFC 7914) for the relays' passwords: N = 2**15, r = 8 (32 MiB, ~0.1 s a check) by default;
# cheaper settings are refused, and so are ones that would take over 64 MiB a check.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MIN_N = 2**14
SCRYPT_MAX_MEMORY = 64 * 1024 * 1024


@dataclass(frozen=True, repr=False)
class PasswordHash:
    """A salted scrypt hash: ``scrypt$<N>$<r>$<p>$<salt-base64>$<hash-base64>``."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def verify(self, password: bytes) -> bool:
        """Whether ``password`` hashes to this (compared in constant time); slow on purpose."""
        given = hashlib.scrypt(
            password,
            salt=self.salt,
            n=self.n,
            r=self.r,
            p=self.p,
            maxmem=2 * 128 * self.r * self.n * self.p + 2**20,
            dklen=len(self.digest),
        )
        return hmac.compare_digest(given, self.digest)

    def __str__(self) -> str:
        b64 = base64.b64encode
        return f"scrypt${self.n}${self.r}${self.p}${b64(self.salt).decode()}${b64(self.digest).decode()}"

    __repr__ = object.__repr__  # never the hash in a log line


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """The TIERLINE_MAIL_AUTH_USERS form of ``password``'s hash, with a new random salt."""
    salt = os.urandom(16)
    memory = 2 * 128 * r * n * p + 2**20
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=memory, dklen=32)
    return str(password_hash(str(PasswordHash(n, r, p, salt, digest))))  # the bounds checked as when read


def password_hash(text: str) -> PasswordHash:
    """Parse ``scrypt$N$r$p$salt$hash``; ValueError naming what is wrong (never echoing the hash)."""
    parts = text.strip().split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        if len(text.strip()) == 64 and all(c in "0123456789abcdefABCDEF" for c in text.strip()):
            raise ValueError("an unsalted SHA-256 digest is not accepted: use scrypt$N$r$p$salt$hash")
        raise ValueError("must be scrypt$N$r$p$salt-base64$hash-base64")
    if not all(part.isdigit() for part in parts[1:4]):
        raise ValueError("scrypt's N, r and p must be whole numbers")
    n, r, p = (int(part) for part in parts[1:4])
    if n < SCRYPT_MIN_N or n & (n - 1):
        raise ValueError(f"scrypt's N must be a power of two of at least {SCRYPT_MIN_N}")
    if not 1 <= r <= 64 or not 1 <= p <= 16 or 128 * r * n > SCRYPT_MAX_MEMORY:
        raise ValueError("scrypt's r (1-64) and p (1-16) are out of range, or N*r needs over 64 MiB")
    try:
        salt, digest = (base64.b64decode(part, validate=True) for part in parts[4:])
    except (binascii.Error, ValueError):
        raise ValueError("the salt and the hash must be base64") from None
    if len(salt) < 8 or not 16 <= len(digest) <= 64:
        raise ValueError("the salt must be at least 8 bytes and the hash 16 to 64")
    return PasswordHash(n, r, p, salt, digest)


def mail_auth_users(value: str) -> dict[str, PasswordHash]:
    """'user:scrypt$…,…' -> {user: hash}; a malformed entry is refused (named by its user, never its hash)."""
    users: dict[str, PasswordHash] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        user, sep, encoded = entry.partition(":")
        if not sep or not user.strip():
            raise ValueError("each entry must be user:scrypt$N$r$p$salt-base64$hash-base64")
        try:
            users[user.strip()] = password_hash(encoded)
        except ValueError as exc:
            raise ValueError(f"the password hash of {user.strip()!r}: {exc}") from None
    if not users:
        raise ValueError("names no user")
    return users


class KnowledgeLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1)
    url: str = Field(min_length=1)


class KnowledgeBase(BaseModel):
    """category -> runbook / knowledge-base links attached to new incidents for L1."""

    model_config = ConfigDict(extra="forbid")
    categories: dict[str, list[KnowledgeLink]] = Field(default_factory=dict)


def load_knowledge(settings: Settings) -> dict[str, list[dict[str, str]]]:
    path = settings.config_dir / settings.knowledge_file
    if not path.exists():
        return {}
    kb = load_yaml(path, KnowledgeBase)
    return {category: [link.model_dump() for link in links] for category, links in kb.categories.items()}


Level = Literal["high", "medium", "low"]


class SeverityLevels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    impact: Level
    urgency: Level


class PriorityMatrix(BaseModel):
    """impact -> urgency -> priority (ITIL-style), and how monitoring severities map onto it."""

    matrix: dict[str, dict[str, str]]
    severity: dict[Literal["critical", "error", "warning", "info"], SeverityLevels] = Field(
        default_factory=dict, description="PagerDuty/Alertmanager severity -> impact and urgency"
    )

    def severity_rules(self) -> dict[str, SeverityRule]:
        rules = dict(DEFAULT_SEVERITY_RULES)
        rules.update({name: SeverityRule(s.impact, s.urgency) for name, s in self.severity.items()})
        return rules


DEFAULT_MATRIX = PriorityMatrix(
    matrix={
        "high": {"high": "P1", "medium": "P2", "low": "P3"},
        "medium": {"high": "P2", "medium": "P3", "low": "P4"},
        "low": {"high": "P3", "medium": "P4", "low": "P4"},
    }
)


def load_priority_matrix(settings: Settings) -> PriorityMatrix:
    path = settings.config_dir / settings.priority_file
    return load_yaml(path, PriorityMatrix) if path.exists() else DEFAULT_MATRIX
