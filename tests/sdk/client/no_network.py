"""Run in its own process by ``test_no_network.py``: a process-wide audit hook counts every socket connection and
name lookup while randomized calls run on local-only clients, and private calls on clients with a cloud endpoint.

``python -m tests.sdk.client.no_network STORES_JSON CALLS SEED`` prints one JSON object: the calls made, what they
ended in, the connection and lookup attempts seen (all must be zero), and a control: one public call to a model this
device lacks, which must be seen trying to reach the endpoint (so a hook that sees nothing would fail the test).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import sys
from collections import Counter
from typing import Any

# Every audit event by which Python code reaches the network or the resolver (sys.audit's socket.* events).
WATCHED = (
    "socket.connect",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyaddr",
    "socket.getnameinfo",
    "socket.sendto",
    "socket.sendmsg",
    "socket.bind",
)
ATTEMPTS: Counter[str] = Counter()
SOCKETS: Counter[str] = Counter()
WHERE: list[str] = []  # where the first few attempts came from, to name the culprit in the failure


def hook(event: str, args: tuple[Any, ...]) -> None:
    if event in WATCHED or (event == "socket.__new__" and args[1] != socket.AF_UNIX):  # not asyncio's self-pipe
        (ATTEMPTS if event in WATCHED else SOCKETS)[event] += 1
        if len(WHERE) < 5:
            import traceback

            WHERE.append(f"{event} {args!r}\n" + "".join(traceback.format_stack(limit=40)[:-1]))


sys.addaudithook(hook)  # before anything of the SDK is imported: nothing it does is missed

import numpy as np  # noqa: E402

from sdk import AsyncClient, Client  # noqa: E402
from sdk.artifacts import LayeredStore, LocalStore, builtin_store  # noqa: E402
from sdk.errors import AiaasError  # noqa: E402

ENDPOINTS = ("http://cloud.invalid:8080", "http://127.0.0.1:9", "https://inference.example.com")
MODES = (None, "auto", "prefer_local", "local_only", "prefer_cloud", "cloud_only")
DEADLINES = (None, 0.001, 1.0, 10_000.0)
DIGIT = np.full((1, 1, 8, 8), 0.5, np.float32)
DIGIT_INPUTS = (
    {"image": DIGIT},
    DIGIT,  # a bare array: the local route knows its one input's name
    {"image": np.zeros((2, 1, 8, 8), np.float32)},
    {"image": np.zeros((1, 8, 8), np.float32)},  # wrong rank
    {"image": np.zeros((1, 1, 8, 8), np.int64)},  # wrong dtype
    {"img": DIGIT},  # wrong name
    {"image": DIGIT, "extra": DIGIT},  # an input it does not take
    DIGIT.tolist(),
)
X_INPUTS = ({"x": np.ones((1, 1024), np.float32)}, {"x": np.ones((1, 3), np.float32)}, np.ones((1, 1024), np.float32))
DIGIT_REFS = ("digits-cnn", "digits-cnn@1", "digits-cnn@latest", "digits-cnn@9")
SECRET_REFS = ("secret", "secret@1", "secret@latest", "secret@2")  # floor private on this device
MISSING_REFS = ("nothere", "digit-cnn")
BAD = ("privacy", "mode", "ref")
ASYNC_CALLS = 64
EDGES = ("ok", "ok", "ok", "missing", "tampered", "broken")  # the device's store: mostly sound, sometimes not


def store(roots: dict[str, str], edge: str) -> LayeredStore:
    stores: list[Any] = [LocalStore(roots[edge]), LocalStore(roots["secret"])]
    if edge == "ok":
        stores.append(builtin_store())
    return LayeredStore(stores)


def with_env(name: str, value: str, make: Any) -> Any:
    os.environ[name] = value
    try:
        return make()
    finally:
        del os.environ[name]


def clients(roots: dict[str, str], rng: random.Random) -> tuple[list[tuple[str, Client]], list[tuple[str, Client]]]:
    """(local-only clients, clients with an endpoint whose calls are all private), over every edge store."""
    common = {"persist_latency": False, "exploration_rate": 0.5, "max_attempts": 1, "timeout_s": 2.0}
    local_only: list[tuple[str, Client]] = []
    private: list[tuple[str, Client]] = []
    for edge in EDGES:
        endpoint = rng.choice(ENDPOINTS)
        local_only.append(("local_only", Client(endpoint, local_only=True, store=store(roots, edge), **common)))
        made = with_env("AIAAS_LOCAL_ONLY", "1", lambda e=endpoint, s=store(roots, edge): Client(e, store=s, **common))
        local_only.append(("local_only", made))
    for client in local_only:
        assert client[1].cloud is None, "a local-only client built a cloud route"
    if "httpx" in sys.modules:
        raise AssertionError("a local-only client imported httpx")
    for edge in EDGES:
        endpoint = rng.choice(ENDPOINTS)
        private.append(("client_private", Client(endpoint, privacy="private", store=store(roots, edge), **common)))
        made = with_env(
            "AIAAS_PRIVACY",
            "private",
            lambda e=endpoint, s=store(roots, edge): Client(e, privacy="public", store=s, **common),
        )
        private.append(("env_private", made))
        private.append(("public_default", Client(endpoint, store=store(roots, edge), **common)))
    return local_only, private


def one_call(rng: random.Random, kind: str) -> tuple[str, dict[str, Any], Any]:
    """(model reference, keyword arguments, inputs) for one randomized call that must stay on the device: two in
    three well-formed, the rest with a fault of the call's own (a missing version or model, a bad input, a bad
    argument); the edge's faults (tampered, failing at run time, absent) come from the client's store."""
    family = rng.choice(("digits", "digits", "secret", "missing"))
    if kind == "public_default" and family != "secret":
        privacy: Any = "private"  # the call itself must be private: nothing else makes it so
    else:
        privacy = rng.choice((None, "public", "private"))
    faulty = rng.random() < 1 / 3
    if family == "digits":
        model = rng.choice(DIGIT_REFS) if faulty else rng.choice(DIGIT_REFS[:2])
        inputs = rng.choice(DIGIT_INPUTS) if faulty else rng.choice(DIGIT_INPUTS[:3])
    elif family == "secret":
        model = rng.choice(SECRET_REFS) if faulty else rng.choice(SECRET_REFS[:2])
        inputs = rng.choice(X_INPUTS) if faulty else X_INPUTS[0]
    else:
        model, inputs = rng.choice(MISSING_REFS), rng.choice(DIGIT_INPUTS)
    options: dict[str, Any] = {"privacy": privacy, "mode": rng.choice(MODES), "deadline_ms": rng.choice(DEADLINES)}
    if faulty and rng.random() < 0.2:
        bad = rng.choice(BAD)
        if bad == "privacy":
            options["privacy"] = rng.choice(("privat", "PRIVATE", "secret"))
        elif bad == "mode":
            options["mode"] = rng.choice(("fastest", "local", "LOCAL_ONLY"))
        else:  # a reference that does not parse (the call stays private on a public-default client all the same)
            model = rng.choice(("Digits CNN", "../etc", "digits-cnn@@1", "digits-cnn@ 1"))
            if kind == "public_default":
                options["privacy"] = "private"
    return model, options, inputs


def run(client: Client, model: str, options: dict[str, Any], inputs: Any, outcomes: Counter[str]) -> None:
    try:
        result = client.predict(model, inputs, **options)
    except AiaasError as exc:
        outcomes[type(exc).__name__] += 1
        return
    if result.route.value != "local":
        raise AssertionError(f"{model} {options} answered by {result.route.value}")
    outcomes[f"ok:{result.decision.reason.value}"] += 1


def main() -> None:
    roots, calls, seed = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    local_only, private = clients(roots, rng)
    everyone = local_only + private
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for _ in range(calls):
        kind, client = rng.choice(everyone)
        kinds[kind] += 1
        run(client, *one_call(rng, kind), outcomes)

    async def concurrently(n: int) -> None:  # the async client: the same client code, in worker threads
        endpoint = rng.choice(ENDPOINTS)
        async with AsyncClient(endpoint, privacy="private", store=store(roots, "ok"), persist_latency=False) as aio:

            async def call(model: str, options: dict[str, Any], inputs: Any) -> None:
                try:
                    result = await aio.predict(model, inputs, **options)
                except AiaasError as exc:
                    outcomes[type(exc).__name__] += 1
                    return
                if result.route.value != "local":
                    raise AssertionError(f"{model} {options} answered by {result.route.value}")
                outcomes[f"ok:{result.decision.reason.value}"] += 1

            await asyncio.gather(*(call(*one_call(rng, "client_private")) for _ in range(n)))

    asyncio.run(concurrently(ASYNC_CALLS))
    kinds["async_private"] += ASYNC_CALLS
    seen, sockets, where = dict(ATTEMPTS), dict(SOCKETS), list(WHERE)
    for _, client in everyone:
        client.close()
    # The control: a public call to a model this device lacks does try the endpoint; the hook must see it.
    ATTEMPTS.clear()
    with Client("http://cloud.invalid:8080", store=store(roots, "missing"), persist_latency=False) as control:
        outcome_control = "answered"
        try:
            control.predict("nothere", DIGIT, privacy="public", mode="auto")
        except AiaasError as exc:
            outcome_control = type(exc).__name__
    print(
        json.dumps(
            {
                "calls": sum(kinds.values()),
                "by_client": dict(kinds),
                "outcomes": dict(outcomes),
                "attempts": seen,
                "sockets_created": sockets,
                "where": where,
                "control_attempts": dict(ATTEMPTS),
                "control_outcome": outcome_control,
            }
        )
    )


if __name__ == "__main__":
    main()
