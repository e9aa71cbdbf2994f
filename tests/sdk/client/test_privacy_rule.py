"""The privacy rule as a property: over every combination of its inputs, `decide_privacy` is private exactly when a
source that speaks says private or a floor is unknown, names the right source, and nothing lowers a private level.

The oracle below is written from the rule's sentence, not from the function: the strictest of the call,
AIAAS_PRIVACY, the client's default, every floor the device knows for the name and the cloud's published floor; a
floor that cannot be read or is not exactly "public" or "private" keeps the data home; a silent source counts for
nothing.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.client.decision import Privacy, PrivacySource
from sdk.client.privacy import decide_privacy
from sdk.errors import CloudUnavailable, ManifestError

ORDER = (PrivacySource.CALL, PrivacySource.ENVIRONMENT, PrivacySource.CLIENT_DEFAULT)
LEVELS = ("public", "private")
NOT_UNDERSTOOD = ["PRIVATE", "Private", " private", "private ", "", "confidential", "PUBLIC", True, False, None, 0, 1]


class Unreadable(Exception):
    """Stands for any error that kept a floor from being read."""


# --- the oracle -------------------------------------------------------------------------------------------------


def understood(value: object) -> bool:
    return isinstance(value, str) and value in LEVELS


def cloud_floor(cloud: Any) -> tuple[bool, object]:
    """(whether the cloud spoke, what it said); an error or a malformed document speaks an unknown floor."""
    if cloud is None:
        return False, None
    if isinstance(cloud, BaseException):
        return True, Unreadable
    parameters = cloud.get("parameters")
    if parameters is None:
        return False, None
    if not isinstance(parameters, dict):
        return True, Unreadable
    if "privacy_floor" not in parameters:
        return False, None
    return True, parameters["privacy_floor"]


def expected(call: Any, environment: Any, client: Any, local: Any, cloud: Any) -> tuple[Privacy, PrivacySource]:
    settings_ = [(s, v) for s, v in zip(ORDER, (call, environment, client), strict=True) if v is not None]
    floors: list[tuple[PrivacySource, object]] = []
    if isinstance(local, BaseException):
        floors.append((PrivacySource.LOCAL_FLOOR, Unreadable))
    else:
        floors += [(PrivacySource.LOCAL_FLOOR, f) for f in local.values()]
    spoke, said = cloud_floor(cloud)
    if spoke:
        floors.append((PrivacySource.CLOUD_FLOOR, said))
    spoken = [*settings_, *floors]
    for source, value in spoken:
        if understood(value) and value == "private":
            return Privacy.PRIVATE, source
    if any(not understood(value) for _, value in spoken):
        return Privacy.PRIVATE, PrivacySource.UNKNOWN_FLOOR
    return Privacy.PUBLIC, spoken[0][0] if spoken else PrivacySource.CLIENT_DEFAULT


def decide(call: Any, environment: Any, client: Any, local: Any, cloud: Any):
    return decide_privacy(
        call=call, environment=environment, client_default=client, local_floors=local, cloud=cloud, model="m"
    )


# --- strategies -------------------------------------------------------------------------------------------------

setting = st.sampled_from([None, "public", "private", Privacy.PUBLIC, Privacy.PRIVATE])
floor_value = st.one_of(
    st.sampled_from(["public", "private", Privacy.PUBLIC, Privacy.PRIVATE]),
    st.sampled_from(NOT_UNDERSTOOD),
    st.text(max_size=12),
    st.integers(),
    st.lists(st.sampled_from(LEVELS), max_size=2),
)
errors = st.sampled_from(
    [ManifestError("manifest.json is not valid JSON"), OSError("permission denied"), Unreadable("store listing")]
)
local_floors = st.one_of(
    st.dictionaries(st.from_regex(r"m/[0-9]{1,2}", fullmatch=True), floor_value, max_size=4),
    errors,
)
metadata = st.one_of(
    st.just({"name": "m"}),
    st.just({"name": "m", "parameters": None}),
    st.builds(lambda p: {"name": "m", "parameters": p}, st.sampled_from([[], "private", 3])),
    st.builds(
        lambda extra: {"name": "m", "parameters": extra}, st.dictionaries(st.sampled_from(["version"]), st.text())
    ),
    st.builds(lambda f: {"name": "m", "parameters": {"privacy_floor": f, "version": "1"}}, floor_value),
)
cloud_answers = st.one_of(st.none(), metadata, st.sampled_from([CloudUnavailable("503"), Unreadable("timeout")]))


# --- properties -------------------------------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(call=setting, environment=setting, client=setting, local=local_floors, cloud=cloud_answers)
def test_the_rule_is_the_strictest_source_and_an_unknown_floor_is_private(call, environment, client, local, cloud):
    verdict = decide(call, environment, client, local, cloud)
    assert (verdict.level, verdict.source) == expected(call, environment, client, local, cloud)
    assert verdict.why  # always says why, for the decision and its errors


@settings(max_examples=600, deadline=None)
@given(
    call=setting,
    environment=setting,
    client=setting,
    local=local_floors,
    cloud=cloud_answers,
    which=st.sampled_from(["call", "environment", "client", "local", "cloud"]),
)
def test_nothing_lowers_a_private_level(call, environment, client, local, cloud, which) -> None:
    """Any one source saying private (or a floor becoming unknown) makes the call private, whatever the others say;
    and a private verdict stays private when any source is added."""
    inputs = {"call": call, "environment": environment, "client": client, "local": local, "cloud": cloud}
    raised = dict(inputs)
    if which == "local":
        raised["local"] = {**(local if isinstance(local, dict) else {}), "m/99": "private"}
    elif which == "cloud":
        raised["cloud"] = {"name": "m", "parameters": {"privacy_floor": "private"}}
    else:
        raised[which] = "private"
    assert decide(**raised).level is Privacy.PRIVATE
    if decide(**inputs).level is Privacy.PRIVATE:  # a silent setting that now says public lowers nothing
        for source in ("call", "environment", "client"):
            if inputs[source] is None:
                assert decide(**{**inputs, source: "public"}).level is Privacy.PRIVATE


@settings(max_examples=200, deadline=None)
@given(local=st.dictionaries(st.from_regex(r"m/[0-9]{1,2}", fullmatch=True), floor_value, min_size=1, max_size=5))
def test_the_order_of_the_devices_versions_does_not_matter(local) -> None:
    reordered = dict(reversed(list(local.items())))
    assert decide(None, None, None, local, None) == decide(None, None, None, reordered, None)


def test_every_combination_of_a_finite_domain() -> None:
    """Exhaustively, beside the sampled property: 3 x 3 x 3 settings x 7 device answers x 10 cloud answers."""
    settings_ = [None, "public", "private"]
    locals_ = [{}, {"m/1": "public"}, {"m/1": "private"}, {"m/1": "public", "m/2": "private"}, {"m/1": "PRIVATE"}]
    locals_ += [{"m/1": True}, ManifestError("unreadable")]
    clouds: list[Any] = [None, CloudUnavailable("down"), {"name": "m"}, {"name": "m", "parameters": {}}]
    clouds += [{"name": "m", "parameters": {"privacy_floor": f}} for f in ("public", "private", "PRIVATE", True)]
    clouds += [{"name": "m", "parameters": ["privacy_floor", "public"]}, {"name": "m", "parameters": None}]
    count = 0
    for call, environment, client, local, cloud in itertools.product(settings_, settings_, settings_, locals_, clouds):
        verdict = decide(call, environment, client, local, cloud)
        assert (verdict.level, verdict.source) == expected(call, environment, client, local, cloud), (
            call,
            environment,
            client,
            local,
            cloud,
        )
        count += 1
    assert count == 27 * 7 * 10


def test_a_stray_setting_is_no_reason_to_send() -> None:
    """The client checks the spelling of the call's and its own values first; the rule still refuses a stray one."""
    for stray in ("Private", "secret", ""):
        verdict = decide(stray, None, None, {}, None)
        assert (verdict.level, verdict.source) == (Privacy.PRIVATE, PrivacySource.UNKNOWN_FLOOR)
