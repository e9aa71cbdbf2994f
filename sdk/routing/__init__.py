"""Routing: per call, the edge or the cloud, decided from privacy, mode, deadline, latency and availability."""

from sdk.routing.breaker import BreakerPolicy, CircuitBreaker
from sdk.routing.decision import Attempt, Decision, Mode, Privacy, Reason, Route
from sdk.routing.latency import LatencyModel, LatencyPolicy, Prediction
from sdk.routing.router import Availability, Plan, Router, RouterPolicy

__all__ = [
    "Attempt",
    "Availability",
    "BreakerPolicy",
    "CircuitBreaker",
    "Decision",
    "LatencyModel",
    "LatencyPolicy",
    "Mode",
    "Plan",
    "Prediction",
    "Privacy",
    "Reason",
    "Route",
    "Router",
    "RouterPolicy",
]
