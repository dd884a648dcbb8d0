"""deploy/nginx.conf, the reverse proxy README's deployment guide puts in front of the web page,
is a configuration nginx accepts (`nginx -t`), with a throwaway certificate in place of the
district's. Skipped, saying why, where nginx is not installed; CI installs it and sets
CONFIRMBOT_NGINX_TESTS=1, which turns a missing nginx into a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "nginx.conf"


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / name).exists()), None
    )
    if found is None:
        why = (
            f"{name} is not installed: deploy/nginx.conf was not checked "
            "(apt-get install nginx-light openssl)"
        )
        if os.environ.get("CONFIRMBOT_NGINX_TESTS") == "1":
            pytest.fail(f"CONFIRMBOT_NGINX_TESTS=1 but {why}")
        pytest.skip(why)
    return found


def test_the_nginx_config_is_valid(tmp_path: Path) -> None:
    nginx, openssl = _tool("nginx"), _tool("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=bot.example.ru", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = (
        CONFIG.read_text(encoding="utf-8")
        .replace("/etc/ssl/certs/confirmbot.pem", str(cert))
        .replace("/etc/ssl/private/confirmbot.key", str(key))
        .replace("/var/log/nginx/confirmbot.access.log", str(tmp_path / "access.log"))
    )
    (tmp_path / "confirmbot.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\n"
        f"error_log {tmp_path / 'error.log'};\n"
        "events {}\n"
        "http {\n"
        f"    access_log {tmp_path / 'access.log'};\n"
        f"    client_body_temp_path {tmp_path};\n"
        f"    proxy_temp_path {tmp_path};\n"
        f"    include {tmp_path / 'confirmbot.conf'};\n"
        "}\n",
        encoding="utf-8",
    )
    result = subprocess.run(  # noqa: S603 - our own files
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
         "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
