"""core-service's JWT private key in an image, which holds no private key file
(.dockerignore): given at run time it is used, even in production; missing, the
service says what to set instead of failing on a missing file."""

from __future__ import annotations

from pathlib import Path

import pytest

from core_service import settings as core_settings
from core_service.settings import CoreSettings
from testkit.keys import new_rsa_keypair


@pytest.fixture
def no_dev_private_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(core_settings, "DEV_PRIVATE_KEY_FILE", tmp_path / "absent.pem")
    for name in ("JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEY",
                 "JWT_PUBLIC_KEY_FILE", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)



@pytest.mark.usefixtures("no_dev_private_key")
def test_a_key_file_given_at_run_time_is_used_in_production(tmp_path: Path) -> None:
    private, public = new_rsa_keypair()
    (tmp_path / "jwt_private_key").write_text(private)
    settings = CoreSettings(environment="production", jwt_public_key=public,
                            jwt_private_key_file=tmp_path / "jwt_private_key")
    assert settings.private_key_pem.strip() == private.strip()


@pytest.mark.usefixtures("no_dev_private_key")
def test_no_key_at_all_names_the_variables_to_set() -> None:
    settings = CoreSettings()  # migrations need no key
    with pytest.raises(ValueError, match="JWT_PRIVATE_KEY_FILE"):
        _ = settings.private_key_pem
