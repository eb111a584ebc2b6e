"""``keys generate`` writes a usable key pair, the private half readable by its owner only."""

import stat
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from services.identity.cli import main
from services.identity.domain.tokens import TokenMinter
from shared.http.auth import TokenVerifier


def test_keys_generate_writes_a_matching_pair(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    assert main(["keys", "generate", "--out", str(out)]) == 0
    private = out / "token-private.pem"
    public = out / "token-public.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    token = TokenMinter(private.read_text(), "care-identity", timedelta(minutes=1)).mint(
        account_id=uuid.uuid4(), role="provider", kind="cqc", locations=[]
    )
    TokenVerifier(public.read_text(), "care-identity").verify(token.token)


def test_existing_keys_are_kept_unless_forced(tmp_path: Path) -> None:
    main(["keys", "generate", "--out", str(tmp_path)])
    before = (tmp_path / "token-private.pem").read_bytes()
    main(["keys", "generate", "--out", str(tmp_path)])
    assert (tmp_path / "token-private.pem").read_bytes() == before
    main(["keys", "generate", "--out", str(tmp_path), "--force"])
    assert (tmp_path / "token-private.pem").read_bytes() != before


def test_register_import_refuses_a_file_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extract = tmp_path / "extract.xlsx"
    extract.write_bytes(b"PK")
    assert main(["register", "import", str(extract)]) == 1
    assert "save the extract as CSV" in capsys.readouterr().err
    no_header = tmp_path / "extract.csv"
    no_header.write_text("a,b\n1,2\n")
    assert main(["register", "import", str(no_header)]) == 1
    assert "Nothing was imported" in capsys.readouterr().err
