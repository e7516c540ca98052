"""Login while Redis (where failures are counted) is unreachable: it stays available, and the
throttling goes on in the process's memory with the same limits."""

from __future__ import annotations

from identity.config import IdentitySettings

from services.identity.tests.identity_helpers import PASSWORD, assert_problem

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"   # nothing listens on port 1


async def test_login_works_and_is_still_throttled_without_redis(
        settings: IdentitySettings, register, make_client) -> None:
    user = await register()   # Redis is up for registration (it does not need it either)
    offline = settings.model_copy(update={"redis_url": UNREACHABLE_REDIS,
                                          "login_max_failures_per_email": 3})
    async with make_client(offline) as client:
        ready = await client.get("/health/ready")
        assert assert_problem(ready, 503)["checks"]["redis"].startswith("unavailable")
        ok = await client.post("/api/v1/auth/login",
                               json={"email": user["email"], "password": PASSWORD})
        assert ok.status_code == 200, ok.text
        # A success is not a failure; three failures fill the window; the fourth is refused.
        for _ in range(3):
            wrong = await client.post("/api/v1/auth/login",
                                      json={"email": user["email"], "password": "nope nope"})
            assert_problem(wrong, 401)
        blocked = await client.post("/api/v1/auth/login",
                                    json={"email": user["email"], "password": PASSWORD})
        assert_problem(blocked, 429)
        assert int(blocked.headers["retry-after"]) >= 1
