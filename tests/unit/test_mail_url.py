"""The email adapter without a network: VOICEPIPE_SMTP_URL parsing and digest rendering."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from voicepipe.errors import ConfigError
from voicepipe.mail import MailItem, SmtpConfig, TlsMode, parse_smtp_url, render_digest
from voicepipe.mail.render import TEMPLATES, mail_environment

SECRET = "s3cr3t-Passw0rd"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpConfig("mail.example.com", 587, TlsMode.STARTTLS)),
        ("smtp://mail.example.com:2525", SmtpConfig("mail.example.com", 2525, TlsMode.STARTTLS)),
        ("smtps://mail.example.com", SmtpConfig("mail.example.com", 465, TlsMode.IMPLICIT)),
        ("smtps://mail.example.com:4650", SmtpConfig("mail.example.com", 4650, TlsMode.IMPLICIT)),
        ("smtp+insecure://localhost", SmtpConfig("localhost", 25, TlsMode.NONE)),
        ("smtp+insecure://127.0.0.1:1025", SmtpConfig("127.0.0.1", 1025, TlsMode.NONE)),
        ("SMTPS://Mail.Example.com/", SmtpConfig("mail.example.com", 465, TlsMode.IMPLICIT)),
        ("smtp+insecure://[::1]:1025", SmtpConfig("::1", 1025, TlsMode.NONE)),
    ],
)
def test_each_scheme_and_its_default_port(url: str, expected: SmtpConfig) -> None:
    assert parse_smtp_url(url) == expected


def test_user_and_password_are_percent_decoded() -> None:
    config = parse_smtp_url("smtp://alerts%40example.com:p%40ss%3Aw%2Ford%25@mail.example.com")
    assert config.username == "alerts@example.com"
    assert config.password == "p@ss:w/ord%"
    assert config.tls is TlsMode.STARTTLS and config.port == 587


def test_a_user_without_a_password_and_an_empty_password() -> None:
    assert parse_smtp_url("smtp://relay@mail.example.com").password is None
    assert parse_smtp_url("smtp://relay:@mail.example.com").password == ""


def test_the_config_is_frozen_and_verifies_certificates_by_default() -> None:
    config = parse_smtp_url(f"smtps://u:{SECRET}@mail.example.com")
    assert config.verify_tls is True
    with pytest.raises(AttributeError):
        config.port = 25  # type: ignore[misc]
    assert SECRET not in repr(config)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        (f"http://u:{SECRET}@mail.example.com", "unknown scheme http://"),
        (f"smtp+tls://u:{SECRET}@mail.example.com", "unknown scheme smtp+tls://"),
        ("mail.example.com:587", "unknown scheme"),
        ("", "unknown scheme (none)"),
        (f"smtp://u:{SECRET}@", "no host"),
        ("smtps://:465", "no host"),
        (f"smtp://u:{SECRET}@mail.example.com:port", "port must be a number"),
        (f"smtp://u:{SECRET}@mail.example.com:70000", "port must be a number"),
        (f"smtp://u:{SECRET}@mail.example.com:0", "port must be a number"),
        (f"smtp://u:{SECRET}@mail.example.com/inbox", "path, query or fragment"),
        (f"smtp://u:{SECRET}@mail.example.com?tls=no", "path, query or fragment"),
        (f"smtp://:{SECRET}@mail.example.com", "password without a user name"),
    ],
)
def test_a_bad_url_names_the_setting_and_the_problem_but_not_the_password(
    url: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_smtp_url(url)
    message = str(caught.value)
    assert message.startswith("VOICEPIPE_SMTP_URL: ")
    assert complaint in message
    assert SECRET not in message
    assert caught.value.__cause__ is None  # urllib's own message would quote the password


# -- rendering -------------------------------------------------------------------------------

AT = datetime(2026, 12, 1, 14, 5, tzinfo=UTC)


def item(title: str = "Job finished", level: str = "info", **fields: str) -> MailItem:
    return MailItem(
        title=title,
        message=fields.get("message", "All 12 chunks transcribed."),
        level=level,
        created_at=AT,
        job_id=fields.get("job_id"),
    )


def test_one_notification_is_its_own_subject() -> None:
    subject, text, html = render_digest(
        [item("Transcription done", "success", job_id="job-42")], "ada@example.com"
    )
    assert subject == "[voicepipe] Transcription done"
    for body in (text, html):
        assert "a notification for ada@example.com" in body
        assert "Transcription done" in body
        assert "All 12 chunks transcribed." in body
        assert "job job-42" in body
        assert "2026-12-01 14:05 UTC" in body
    assert "[SUCCESS] Transcription done" in text


def test_several_notifications_give_their_count_and_highest_level() -> None:
    items = [
        item("First", "info"),
        item("Second", "error", job_id="job-7"),
        item("Third", "warning"),
    ]
    subject, text, html = render_digest(items, "ada@example.com")
    assert subject == "[voicepipe] 3 notifications (error)"
    assert "3 notifications for ada@example.com" in text
    assert text.index("First") < text.index("Second") < text.index("Third")
    assert html.count('class="notification ') == 3
    assert "level-error" in html and "level-warning" in html
    assert render_digest(items[::2], "a@example.com")[0] == "[voicepipe] 2 notifications (warning)"
    assert (
        render_digest([item(level="success"), item(level="info")], "a@example.com")[0]
        == "[voicepipe] 2 notifications (success)"
    )


def test_html_is_escaped_and_text_is_not() -> None:
    attack = "<script>alert('x')</script>"
    _, text, html = render_digest(
        [item(f"Title {attack}", message=f"Body {attack}", job_id="<b>id</b>")], "a@example.com"
    )
    assert "<script>" not in html and "<b>id</b>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;id&lt;/b&gt;" in html
    assert f"Title {attack}" in text and f"Body {attack}" in text


def test_a_title_with_a_newline_gives_a_one_line_subject() -> None:
    subject, _, _ = render_digest([item("Failed:\r\n  chunk 3")], "a@example.com")
    assert subject == "[voicepipe] Failed: chunk 3"


def test_an_empty_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_digest([], "a@example.com")


def test_critical_is_the_highest_level() -> None:
    subject = render_digest([item(level="critical"), item(level="error")], "a@example.com")[0]
    assert subject.endswith("2 notifications (critical)")


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown notification level 'fatal'"):
        item(level="fatal")


def test_the_templates_are_found_beside_the_package_and_a_missing_folder_is_named(
    tmp_path: Path,
) -> None:
    assert (TEMPLATES / "mail" / "notification.html").is_file()
    with pytest.raises(ConfigError, match="mail templates are missing"):
        mail_environment(tmp_path)
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "notification.txt").write_text(
        "{{ notifications|length }} for {{ recipient_email }}"
    )
    (tmp_path / "mail" / "notification.html").write_text("<i>{{ recipient_email }}</i>")
    _, text, html = render_digest(
        [item()], "<a@example.com>", environment=mail_environment(tmp_path)
    )
    assert (text, html) == ("1 for <a@example.com>", "<i>&lt;a@example.com&gt;</i>")
