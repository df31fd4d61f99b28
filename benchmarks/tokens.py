"""Token verification, in process: the add-on's ``TokenVerifier.verify`` (key parsed once, at app
start), for a token seen before (its signature remembered, as for every delivery of a webhook
after the first) and seen for the first time, beside a bare ``jwt.decode`` with the same parsed
key, and beside ``jwt.decode`` handed the PEM text (what verification would cost if the key were
parsed per request)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import jwt

from addon.clockify.tokens import TokenVerifier, load_public_key
from addon.testkit.signing import Signer

ITERATIONS = 1000
ROUNDS = 9


def _time_us(call: Callable[[], object], iterations: int) -> float:
    started = time.perf_counter()
    for _ in range(iterations):
        call()
    return (time.perf_counter() - started) / iterations * 1e6


def _interleaved(calls: dict[str, Callable[[], object]]) -> dict[str, dict]:
    """Time each call in rounds, one block of each per round, so a burst of load on the machine
    hits every contender alike; report the median and the best round."""
    for call in calls.values():
        call()  # warm caches (PyJWT's algorithm objects, OpenSSL's key structures)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            samples[name].append(_time_us(call, ITERATIONS))
    return {name: {"median_us": round(statistics.median(values), 1), "min_us": round(min(values), 1),
                   "iterations": ITERATIONS * ROUNDS} for name, values in samples.items()}


def measure(signer: Signer) -> dict:
    """Cost per verification of a webhook token, and of its references."""
    workspace_id = "ws-bench-tokens"
    token = signer.webhook_token(workspace_id, "addon-bench")
    pem = signer.public_pem
    key = load_public_key(pem)
    verifier = TokenVerifier([key], signer.addon_key)
    first_sight = TokenVerifier([key], signer.addon_key, signature_cache_size=0)
    verifier.verify(token, workspace_id=workspace_id)  # fails loudly if the setup is wrong

    figures = _interleaved({
        "addon_verify": lambda: verifier.verify(token, workspace_id=workspace_id),
        "addon_verify_first_sight": lambda: first_sight.verify(token, workspace_id=workspace_id),
        "bare_jwt_decode": lambda: jwt.decode(token, key, algorithms=["RS256"]),
        "jwt_decode_parsing_pem_each_time": lambda: jwt.decode(token, pem, algorithms=["RS256"]),
    })
    figures["overhead_over_bare_us"] = round(figures["addon_verify_first_sight"]["median_us"]
                                             - figures["bare_jwt_decode"]["median_us"], 1)
    figures["note"] = "RS256, 2048-bit key; one thread, in process, no I/O"
    return figures
