"""IMAP polling against a real Dovecot (Debian's dovecot-imapd), run privately by the test: its own config,
port, passwd-file user and maildir in a temporary folder, stopped afterwards. Mail is put in with imaplib's
APPEND, as another mail server would deliver it."""

from __future__ import annotations

import getpass
import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError

from connectors import registry
from connectors.base import AccountInfo, Outcome
from connectors.email.imap import parse_imap_url
from hub import tasks
from hub.connector_port import DatabaseHubPort, account_info
from hub.models import ChannelAccount, Message
from tests import factories as f
from tests.conftest import needs_service
from tests.connectors.contract import inbound_count
from tests.connectors.test_email_support import ADDRESS, fixture, free_port, mail

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "s3cret pass"


@dataclass
class Dovecot:
    port: int
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"imap://{self.user.replace('@', '%40')}:{self.password.replace(' ', '%20')}@127.0.0.1:{self.port}/INBOX"

    def imap(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(self.user, self.password)
        client.select("INBOX")
        return client

    def append(self, *mails: bytes) -> None:
        client = self.imap()
        try:
            for raw in mails:
                status, _ = client.append("INBOX", None, None, raw)
                assert status == "OK"
        finally:
            client.logout()

    def flags(self) -> list[str]:
        """Each mail's flags, in mailbox order."""
        client = self.imap()
        try:
            _, data = client.fetch("1:*", "(FLAGS)")
        finally:
            client.logout()
        return [item.decode() for item in data if isinstance(item, bytes)]


def _config(root: Path, port: int) -> str:
    if os.geteuid() == 0:
        # Dovecot refuses mail access as root: the mail belongs to `nobody`.
        uid, gid, users = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid, ""
        (root / "mail").chmod(0o777)
    else:
        me = getpass.getuser()
        uid, gid = os.getuid(), os.getgid()
        users = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{users}protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture(scope="module")
def dovecot_server() -> Iterator[Dovecot]:
    """One Dovecot for the module (stopping one takes a second); each test gets the mailbox empty."""
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if binary is None:
        needs_service("dovecot", "the dovecot binary is not installed (apt-get install -y dovecot-imapd)")
    assert binary is not None
    # Not pytest's tmp_path: its folders are private to us, and Dovecot's own users (dovecot, nobody) must
    # reach the passwd file and the maildir.
    root = Path(tempfile.mkdtemp(prefix="hub-dovecot-"))
    root.chmod(0o755)
    for folder in ("run", "state", "mail"):
        (root / folder).mkdir()
    (root / "passwd").write_text(f"{ADDRESS}:{{PLAIN}}{PASSWORD}\n")
    port = free_port()
    (root / "dovecot.conf").write_text(_config(root, port))
    process = subprocess.Popen([binary, "-F", "-c", str(root / "dovecot.conf")], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    if probe.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                output = process.stdout.read().decode() if process.stdout and process.poll() is not None else ""
                pytest.fail(f"dovecot did not start:\n{output}\n{log}")
            time.sleep(0.05)
        yield Dovecot(port=port, user=ADDRESS, password=PASSWORD)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    client = dovecot_server.imap()
    try:
        _, data = client.search(None, "ALL")
        if data and data[0]:
            client.store("1:*", "+FLAGS", "(\\Deleted)")
            client.expunge()
    finally:
        client.logout()
    return dovecot_server


@pytest.fixture
def support(dovecot: Dovecot) -> ChannelAccount:
    return ChannelAccount.objects.create(channel="email", name="Support", address=ADDRESS,
                                         config={"imap_url": dovecot.url})


def poll(account: ChannelAccount) -> int:
    connector = registry.get("email")
    assert connector is not None and connector.polls
    return connector.poll(account_info(account), DatabaseHubPort())


def test_new_mail_is_fetched_once_and_marked(dovecot: Dovecot, support: ChannelAccount) -> None:
    dovecot.append(fixture("transport-customer.eml"), fixture("transport-gb2312.eml"))
    assert poll(support) == 2
    assert inbound_count() == 2
    texts = {m.provider_message_id: m.text for m in Message.objects.all()}
    assert "镕" in texts["202405151002110271@customer.cn"]
    assert all("$HubImported" in flags for flags in dovecot.flags())
    assert all("\\Seen" not in flags for flags in dovecot.flags())  # still unread for people using the mailbox
    assert poll(support) == 0
    dovecot.append(mail(message_id="later-1@customer.test", text="one more thing"))
    assert poll(support) == 1
    assert inbound_count() == 3


def test_the_same_mail_twice_in_the_mailbox_is_one_message(dovecot: Dovecot, support: ChannelAccount) -> None:
    dovecot.append(fixture("transport-customer.eml"), fixture("transport-customer.eml"))
    poll(support)
    assert inbound_count() == 1
    assert all("$HubImported" in flags for flags in dovecot.flags())


def test_a_mail_the_hub_cannot_store_stays_unmarked_and_comes_next_time(dovecot: Dovecot, support: ChannelAccount,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    dovecot.append(fixture("transport-customer.eml"))

    def unavailable(self: Any, account: AccountInfo, events: Any) -> None:
        raise OperationalError("the database went away")

    with monkeypatch.context() as m:
        m.setattr(DatabaseHubPort, "deliver", unavailable)
        assert poll(support) == 0
    assert inbound_count() == 0
    assert "$HubImported" not in dovecot.flags()[0]
    assert poll(support) == 1
    assert inbound_count() == 1


def test_a_mail_the_hub_refuses_stays_unmarked(dovecot: Dovecot, support: ChannelAccount,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    dovecot.append(fixture("transport-customer.eml"))

    def refuse(self: Any, account: AccountInfo, events: Any) -> list[Outcome]:
        return [Outcome(event=e, stored=False, error="not a valid email address") for e in events]

    monkeypatch.setattr(DatabaseHubPort, "deliver", refuse)
    assert poll(support) == 0
    # It stays in the mailbox, unmarked, for a person to look at (and for the next poll).
    assert "$HubImported" not in dovecot.flags()[0]


def test_unreadable_and_oversized_mail_is_marked_skipped_and_left(dovecot: Dovecot, support: ChannelAccount) -> None:
    support.config = {**support.config, "max_message_bytes": 5000}
    support.save()
    dovecot.append(b"no headers at all, just words\r\n", mail(message_id="huge@x", text="x" * 10000),
                   mail(message_id="fine@x"))
    assert poll(support) == 1
    flags = dovecot.flags()
    assert "$HubSkipped" in flags[0] and "$HubSkipped" in flags[1] and "$HubImported" in flags[2]
    assert poll(support) == 0
    assert list(Message.objects.values_list("provider_message_id", flat=True)) == ["fine@x"]


def test_our_own_mail_in_the_mailbox_is_marked_and_not_stored(dovecot: Dovecot, support: ChannelAccount) -> None:
    dovecot.append(mail(sender=ADDRESS, message_id="own@acme.test"))
    assert poll(support) == 0
    assert inbound_count() == 0
    assert "$HubImported" in dovecot.flags()[0]


def test_the_periodic_task_polls_the_default_account_from_hub_imap_url(dovecot: Dovecot,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_IMAP_URL", dovecot.url)
    default = f.account("email")
    dovecot.append(mail(to=default.address, message_id="via-task@customer.test"))
    assert tasks.poll_channels() == 1
    assert Message.objects.get().channel_account_id == default.pk


def test_wrong_credentials_are_an_error_for_the_poller_to_log(dovecot: Dovecot, support: ChannelAccount) -> None:
    support.config = {"imap_url": dovecot.url.replace("s3cret", "wrong")}
    support.save()
    with pytest.raises(ConnectionError, match=r"127\.0\.0\.1"):
        poll(support)


def test_an_account_without_a_mailbox_is_not_polled() -> None:
    account = ChannelAccount.objects.create(channel="email", name="Webhook only", address="hooks@acme.test")
    assert poll(account) == 0


def test_imap_urls() -> None:
    box = parse_imap_url("imaps://support%40acme.test:p%40ss@mail.acme.test/Support%20Inbox")
    assert (box.host, box.port, box.tls, box.username, box.password, box.folder) == (
        "mail.acme.test", 993, True, "support@acme.test", "p@ss", "Support Inbox")
    assert parse_imap_url("imap://u:p@h").port == 143 and parse_imap_url("imap://u:p@h").folder == "INBOX"
    with pytest.raises(ValueError, match="imaps://"):
        parse_imap_url("https://h/INBOX")

