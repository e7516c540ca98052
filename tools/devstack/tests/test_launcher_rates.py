"""`make run` takes the gateway's per-address limits from GATEWAY_API_RATE / GATEWAY_AUTH_RATE."""

from __future__ import annotations

import pytest
from devstack.__main__ import rates_from_env


def test_no_settings_keep_the_gateway_defaults() -> None:
    assert rates_from_env({}) == {}


def test_rates_with_bursts_given_or_twice_the_rate() -> None:
    assert rates_from_env({"GATEWAY_API_RATE": "5000r/s", "GATEWAY_AUTH_RATE": "30r/m",
                           "GATEWAY_AUTH_BURST": "7"}) == {
        "api_rate": "5000r/s", "api_burst": 10000, "auth_rate": "30r/m", "auth_burst": 7}


@pytest.mark.parametrize(("environ", "message"), [
    ({"GATEWAY_API_RATE": "300"}, "GATEWAY_API_RATE must look like 300r/s"),
    ({"GATEWAY_API_RATE": "0r/s"}, "GATEWAY_API_RATE must look like"),
    ({"GATEWAY_AUTH_RATE": "10r/h"}, "GATEWAY_AUTH_RATE must look like"),
    ({"GATEWAY_API_RATE": "10r/s", "GATEWAY_API_BURST": "-1"}, "whole number"),
    ({"GATEWAY_AUTH_BURST": "5"}, "GATEWAY_AUTH_BURST needs GATEWAY_AUTH_RATE"),
])
def test_bad_settings_are_refused_naming_the_variable(environ: dict[str, str],
                                                      message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rates_from_env(environ)
