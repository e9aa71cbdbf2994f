"""The app-facing client: `Client.predict` routes each call to the edge or the cloud and returns the Decision;
`Client.explain` routes an explanation of it (``sdk.explain``) under the same privacy rule.

The routing vocabulary is the client's own::

    decision    Decision, Attempt, Route, Privacy, PrivacySource, Mode, Reason: what every result says about where it
                ran and why
    privacy     decide_privacy: the privacy rule, one pure function (the strictest of every source that speaks)
    router      Router: the ordered routes for one call, from privacy, mode, deadline and estimates
    routing     one routed call, whatever it asks: the rule, the plan, the fallbacks, the decision log's record
    latency     LatencyModel: per (model, route) estimates, learned from the calls themselves
    breaker     CircuitBreaker: the cloud route's transport stops calling an endpoint that keeps failing
    local       the edge route (the local store and runtime)
    cloud       the cloud route (an Open Inference Protocol endpoint over httpx; loaded only when a cloud is set)
"""

from sdk.client.aio import AsyncClient
from sdk.client.client import Client, Result
from sdk.client.config import ClientConfig
from sdk.client.decision import Attempt, Decision, Mode, Privacy, PrivacySource, Reason, Route
from sdk.client.latency import LatencyModel, LatencyPolicy, Prediction
from sdk.client.privacy import PrivacyVerdict, decide_privacy
from sdk.client.router import Availability, Plan, Router, RouterPolicy

__all__ = [
    "AsyncClient",
    "Attempt",
    "Availability",
    "Client",
    "ClientConfig",
    "Decision",
    "LatencyModel",
    "LatencyPolicy",
    "Mode",
    "Plan",
    "Prediction",
    "Privacy",
    "PrivacySource",
    "PrivacyVerdict",
    "Reason",
    "Result",
    "Route",
    "Router",
    "RouterPolicy",
    "decide_privacy",
]
