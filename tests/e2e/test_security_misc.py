"""Sessions, login throttling, secrets in logs, and production start-up refusal.

The log test is the LAST test of this module on purpose: it greps every log of the stack for
the passwords and tokens that the earlier tests (and its own traffic) used."""

from __future__ import annotations

import concurrent.futures
import importlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from devstack.infra import free_port
from devstack.testing import User, assert_problem, unique_email
from pydantic import ValidationError

from tests.e2e import security_support as sec

AUTH = "/api/v1/auth"
ME = "/api/v1/users/me"
# Every secret a test of this module sent or received: the log test looks for each.
USED_SECRETS: dict[str, str] = {}


def remember(label: str, value: str) -> str:
    USED_SECRETS[f"{label} #{len(USED_SECRETS)}"] = value
    return value


def remember_user(user: User) -> User:
    remember("password", user.password)
    remember("access token", user.access_token)
    remember("refresh token", user.refresh_token)
    return user


def remember_pair(pair: dict) -> dict:
    remember("access token", pair["access_token"])
    remember("refresh token", pair["refresh_token"])
    return pair


def new_password() -> str:
    return remember("password", f"Pw-{uuid.uuid4().hex}-secret")


@pytest.fixture(scope="module")
def api(stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        yield client


def user_with_password(api: httpx.Client, name: str) -> User:
    return remember_user(sec.make_user(api, name, new_password()))


def login(api: httpx.Client, user: User, password: str | None = None) -> dict:
    return remember_pair(sec.ok(api.post(f"{AUTH}/login", json={
        "email": user.email, "password": password or user.password})))


def refresh(api: httpx.Client, token: str) -> httpx.Response:
    response = api.post(f"{AUTH}/refresh", json={"refresh_token": token})
    if response.status_code == 200:
        remember_pair(response.json())
    return response


# --- refresh-token families ------------------------------------------------------------------


def test_refresh_token_reuse_revokes_the_whole_family_only(api):
    user = user_with_password(api, "family")
    first = user.refresh_token
    other_session = login(api, user)["refresh_token"]
    second = sec.ok(refresh(api, first))["refresh_token"]
    third = sec.ok(refresh(api, second))["refresh_token"]
    # An attacker replays the first (already rotated) token.
    assert_problem(refresh(api, first), 401)
    # Every token of that family is dead now, the newest (the legitimate client's) too...
    assert_problem(refresh(api, third), 401)
    assert_problem(refresh(api, second), 401)
    # ...but the user's other session (another family) is untouched.
    sec.ok(refresh(api, other_session))


def test_concurrent_refresh_with_one_token_succeeds_at_most_once(api):
    user = user_with_password(api, "race")
    with httpx.Client(base_url=api.base_url, timeout=30) as a, \
            httpx.Client(base_url=api.base_url, timeout=30) as b, \
            concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: c.post(f"{AUTH}/refresh", json={
            "refresh_token": user.refresh_token}), [a, b, a, b]))
    for response in results:
        if response.status_code == 200:
            remember_pair(response.json())
    assert sum(r.status_code == 200 for r in results) <= 1, [r.status_code for r in results]
    assert all(r.status_code in (200, 401) for r in results)


def test_logout_revokes_the_family(api):
    user = user_with_password(api, "logout")
    rotated = sec.ok(refresh(api, user.refresh_token))["refresh_token"]
    assert api.post(f"{AUTH}/logout", json={"refresh_token": rotated}).status_code == 204
    assert_problem(refresh(api, rotated), 401)


def test_password_change_revokes_every_refresh_token(api):
    user = user_with_password(api, "pwchange")
    second_session = login(api, user)["refresh_token"]
    rotated = sec.ok(refresh(api, user.refresh_token))["refresh_token"]
    changed = new_password()
    response = api.post(f"{ME}/password", headers=user.headers,
                        json={"current_password": user.password, "new_password": changed})
    assert response.status_code == 204, response.text
    for token in (user.refresh_token, rotated, second_session):
        assert_problem(refresh(api, token), 401)
    assert_problem(api.post(f"{AUTH}/login", json={"email": user.email,
                                                   "password": user.password}), 401)
    login(api, user, changed)


# --- login throttling --------------------------------------------------------------------------


def test_login_is_throttled_per_email_with_retry_after(api):
    """After 5 failures for one e-mail: 429 + Retry-After, even with the right password.
    (The gateway's own per-address login limit is set high in tests: this is identity's.)"""
    user = user_with_password(api, "throttle")
    for attempt in range(5):
        assert_problem(api.post(f"{AUTH}/login", json={
            "email": user.email, "password": remember("password", f"wrong-{attempt}-guess")}),
            401)
    for password in (remember("password", "wrong-again-guess"), user.password):
        blocked = api.post(f"{AUTH}/login", json={"email": user.email.upper(),
                                                  "password": password})
        assert_problem(blocked, 429)
        retry_after = int(blocked.headers["retry-after"])
        assert 1 <= retry_after <= 15 * 60, retry_after
    # Another account from the same address is not blocked by this e-mail's failures.
    other = user_with_password(api, "throttle-other")
    login(api, other)


def test_login_is_throttled_per_client_address(stack):
    """50 failures from one client address (any e-mails) -> 429 for that address. Sent to
    identity directly with a made-up X-Forwarded-For (what the gateway sets), so that the
    test address, not 127.0.0.1, is the one blocked."""
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    headers = {"X-Forwarded-For": address}
    with httpx.Client(base_url=stack.services["identity"].url, timeout=30) as identity:
        statuses = [identity.post(f"{AUTH}/login", headers=headers, json={
            "email": unique_email("nobody"), "password": "wrong-password"}).status_code
            for _ in range(50)]
        assert set(statuses) == {401}, statuses
        blocked = identity.post(f"{AUTH}/login", headers=headers, json={
            "email": unique_email("fresh"), "password": "wrong-password"})
        assert_problem(blocked, 429)
        assert int(blocked.headers["retry-after"]) >= 1
        # Another address is unaffected.
        assert identity.post(f"{AUTH}/login", headers={"X-Forwarded-For": "203.0.113.9"},
                             json={"email": unique_email("fresh"),
                                   "password": "wrong-password"}).status_code == 401


def test_the_gateway_does_not_let_a_client_choose_its_throttled_address(stack, api):
    """A client-sent X-Forwarded-For must not reach identity: the gateway replaces it with
    the peer address. Proof: an address blocked at identity (50 failures sent directly)
    is not blocked for a gateway client that claims it."""
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    with httpx.Client(base_url=stack.services["identity"].url, timeout=30) as identity:
        for _ in range(50):
            identity.post(f"{AUTH}/login", headers={"X-Forwarded-For": address},
                          json={"email": unique_email("nobody"), "password": "wrong-password"})
        assert_problem(identity.post(f"{AUTH}/login", headers={"X-Forwarded-For": address},
                                     json={"email": unique_email("x"),
                                           "password": "wrong-password"}), 429)
    for spoofed in (address, f"{address}, 10.0.0.1"):
        response = api.post(f"{AUTH}/login", headers={"X-Forwarded-For": spoofed},
                            json={"email": unique_email("spoof"),
                                  "password": remember("password", "spoofed-wrong-pass")})
        assert_problem(response, 401)


# --- production refuses development defaults --------------------------------------------------

SETTINGS = {
    "identity": ("identity.config", "IdentitySettings"),
    "workspace": ("workspace.config", "WorkspaceSettings"),
    "boards": ("boards.config", "BoardsSettings"),
    "notifier": ("notifier.config", "NotifierSettings"),
    "scheduler": ("scheduler.config", "SchedulerSettings"),
}
_TEST_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()).decode()


def _clean_production(service: str) -> dict:
    """Settings a production deployment could really use: every development default
    replaced."""
    values = {"environment": "production",
              "database_url": "postgresql+psycopg://app:Zq8-real-secret@db.internal/kanban",
              "cursor_secret": uuid.uuid4().hex * 2}
    if service == "identity":
        values["signing_key_pem"] = _TEST_KEY
    if service == "notifier":
        values["mail_from"] = "Kanban <no-reply@kanban.example.org>"
    return values


# (service, field overrides that bring back one development default, expected words)
# (service, settings that keep one development default, words of the refusal)
DEV_DEFAULTS: list[tuple[str, dict[str, Any], str]] = [
    *[(svc, {"debug": True}, "debug") for svc in SETTINGS],
    *[(svc, {"database_url": None}, "database_url") for svc in SETTINGS],
    *[(svc, {"cursor_secret": None}, "cursor_secret") for svc in SETTINGS],
    ("identity", {"signing_key_pem": None}, "signing key"),
    ("identity", {"argon2_time_cost": 1}, "argon2"),
    ("identity", {"argon2_memory_cost": 8192}, "argon2"),
    ("notifier", {"mail_from": None}, "mail_from"),
    ("notifier", {"smtp_username": "mailer", "smtp_password": "x"}, "TLS"),
    ("scheduler", {"clock_offset_seconds": 3600}, "clock_offset"),
]


def _settings_class(service: str):
    module, name = SETTINGS[service]
    return getattr(importlib.import_module(module), name)


@pytest.fixture
def no_service_env(monkeypatch):
    for key in list(os.environ):
        if key.split("_", 1)[0] in {s.upper() for s in SETTINGS} | {"KANBAN"}:
            monkeypatch.delenv(key)


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_production_settings_refuse_all_development_defaults(service, no_service_env):
    cls = _settings_class(service)
    with pytest.raises(ValidationError, match="refusing to start in production"):
        cls(environment="production")
    # The control: with every default replaced, production settings are accepted.
    assert cls(**_clean_production(service)).environment == "production"


@pytest.mark.parametrize(("service", "override", "words"), DEV_DEFAULTS,
                         ids=[f"{s}-{next(iter(o))}" for s, o, _ in DEV_DEFAULTS])
def test_production_settings_refuse_each_development_default(service, override, words,
                                                             no_service_env):
    values = _clean_production(service)
    for key, value in override.items():
        if value is None:
            values.pop(key)   # back to the development default
        else:
            values[key] = value
    with pytest.raises(ValidationError) as error:
        _settings_class(service)(**values)
    assert "refusing to start in production" in str(error.value)
    assert words.lower() in str(error.value).lower()


def test_production_services_exit_at_start_with_development_defaults(tmp_path):
    """``python -m chassis.serve <svc> --role api`` with <SVC>_ENVIRONMENT=production and
    nothing else set: every service exits non-zero and says why (before touching any
    database: the development URL points at a server that does not exist here)."""
    base_env = {k: v for k, v in os.environ.items()
                if k.split("_", 1)[0] not in {s.upper() for s in SETTINGS} | {"KANBAN"}}
    processes = {}
    for service in SETTINGS:
        env = {**base_env, f"{service.upper()}_ENVIRONMENT": "production",
               f"{service.upper()}_STATE_DIR": str(tmp_path / service)}
        processes[service] = subprocess.Popen(
            [sys.executable, "-m", "chassis.serve", service, "--role", "api",
             "--host", "127.0.0.1", "--port", str(free_port())],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
    failures = []
    for service, process in processes.items():
        try:
            output, _ = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            failures.append(f"{service}: still running after 90 s in production with "
                            f"development defaults:\n{output[-2000:]}")
            continue
        if process.returncode == 0:
            failures.append(f"{service}: exited 0")
        elif "refusing to start in production" not in output \
                or "cursor_secret is the development default" not in output:
            failures.append(f"{service}: exit {process.returncode} without a clear "
                            f"message:\n{output[-2000:]}")
    assert not failures, "\n".join(failures)


# --- nothing secret in any log (LAST: it also checks what the tests above used) ---------------


def _log_files(stack) -> list[Path]:
    root = stack.state_dir
    files = [p for p in root.rglob("*.log") if "pgdata" not in p.parts]
    assert stack.gateway.access_log in files
    assert any(p.parent == root / "logs" for p in files)
    return files


def test_no_secret_appears_in_any_log(stack, api):
    # Traffic that carries every kind of secret, good and bad, through every service.
    user = user_with_password(api, "logcheck")
    pair = login(api, user)
    pair = sec.ok(refresh(api, pair["refresh_token"]))
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    remember("Authorization header", headers["Authorization"])
    team = sec.ok(api.post("/api/v1/teams", json={"name": "Logs"}, headers=headers), 201)
    project = sec.ok(api.post("/api/v1/projects", json={"team_id": team["id"], "name": "L"},
                              headers=headers), 201)
    for path in (ME, "/api/v1/teams", f"/api/v1/boards?project_id={project['id']}",
                 "/api/v1/notifications"):
        sec.ok(api.get(path, headers=headers))
        for service in ("identity", "workspace", "boards", "notifier"):
            httpx.get(stack.services[service].url + path, headers=headers, timeout=10)
    kid = jwt.get_unverified_header(pair["access_token"])["kid"]
    for name, token in sec.token_variants(user, sec.signing_key(stack), kid).items():
        if len(token) >= 20:
            remember(f"bad token {name}", token)
        api.get(ME, headers={"Authorization": f"Bearer {token}"})
    wrong = new_password()
    assert_problem(api.post(f"{AUTH}/login", json={"email": user.email, "password": wrong}),
                   401)
    assert_problem(api.post(f"{AUTH}/register", json={
        "email": user.email, "password": new_password(), "full_name": "Dup"}), 409)
    assert_problem(api.post(f"{AUTH}/register", json={
        "email": "not-an-email", "password": remember("password", "Sh0rtPw"),
        "full_name": "x"}), 422)
    assert_problem(api.post(f"{ME}/password", headers=headers, json={
        "current_password": new_password(), "new_password": new_password()}), 422)
    later = new_password()
    assert api.post(f"{ME}/password", headers=headers, json={
        "current_password": user.password, "new_password": later}).status_code == 204
    api.post(f"{AUTH}/logout", json={"refresh_token": pair["refresh_token"]})
    time.sleep(2)  # nginx flushes the access log every second; workers log asynchronously

    # What must never be written: every password/token used, their signatures alone (a log
    # that truncates a token still leaks its signature), password hashes, the signing key
    # and the development cursor secret.
    needles = dict(USED_SECRETS)
    for label, value in USED_SECRETS.items():
        if value.count(".") == 2 and len(value) > 100:
            needles[f"{label} (signature)"] = value.rsplit(".", 1)[1]
        if "refresh token" in label:
            needles[f"{label} (prefix)"] = value[:24]
    needles["argon2 hash"] = "$argon2"
    needles["private key PEM"] = "PRIVATE KEY"
    key_lines = (stack.state_dir / "identity" / "signing-key.pem").read_text().splitlines()
    needles["signing key material"] = key_lines[len(key_lines) // 2]
    needles["cursor secret"] = "development-cursor-secret"

    needles = {label: value for label, value in needles.items() if len(value) >= 8}
    found: list[str] = []
    files = _log_files(stack)
    for log_file in files:
        text = log_file.read_text(errors="replace")
        for label, value in needles.items():
            if value in text:
                line = next((ln for ln in text.splitlines() if value in ln), "")
                found.append(f"{log_file.relative_to(stack.state_dir)}: {label}: {line[:300]}")
    # The control: the logs were really read and are current (the access log names the user).
    access = stack.gateway.access_log.read_text()
    assert user.id in access, "access log not flushed/read: the check would prove nothing"
    assert not found, f"secrets in logs ({len(found)}):\n" + "\n".join(found[:40])
