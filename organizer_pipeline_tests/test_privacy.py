import logging

from organizer_pipeline.ops.audit import audit
from organizer_pipeline.privacy import RedactingFilter, email_sha256, mask_email, redact


def test_masks():
    assert mask_email("Joao.Silva@gmail.com") == "J***@g***.com"
    text = redact("buyer joao@x.com.br cpf 123.456.789-09 phone +55 11 98765-4321")
    assert "joao@" not in text and "123.456.789-09" not in text and "98765-4321" not in text
    assert email_sha256(" A@B.com ") == email_sha256("a@b.com")


def test_secrets_from_env_are_masked(monkeypatch):
    monkeypatch.setenv("BREVO_API_KEY", "xkeysib-supersecret")
    assert "supersecret" not in redact("calling with xkeysib-supersecret")


def test_logging_filter(caplog):
    logger = logging.getLogger("test.privacy")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("contact %s updated", "maria@example.org")
    assert "maria@example.org" not in caplog.text and "m***@e***.org" in caplog.text


def test_audit_masks_subject_and_detail(engine):
    import sqlalchemy as sa

    audit(
        engine,
        "test",
        "contact.updated",
        "maria@example.org",
        {"email": "maria@example.org", "n": 1},
        subject_is_email=True,
    )
    with engine.connect() as conn:
        row = conn.execute(sa.text("select subject, detail::text from ops.audit_log")).one()
    assert "maria@example.org" not in row[0] + row[1]
