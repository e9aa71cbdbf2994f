"""Shipping compiled models to the cloud and back: `sdk deploy`, `rollback`, `status` and `sdk models pull`.

Needs the ``aws`` extra (boto3), imported on first use. Every AWS client can be injected.
"""

from sdk.deploy.aws import AwsClients, environment_for
from sdk.deploy.deployer import TARGETS, Deployer
from sdk.deploy.progress import NoProgress, TransferProgress
from sdk.deploy.pull import PullResult, pull
from sdk.deploy.report import DeployReport
from sdk.deploy.status import collect_status
from sdk.deploy.steps import Step
from sdk.deploy.upload import TransferSettings

__all__ = [
    "TARGETS",
    "AwsClients",
    "DeployReport",
    "Deployer",
    "NoProgress",
    "PullResult",
    "Step",
    "TransferProgress",
    "TransferSettings",
    "collect_status",
    "environment_for",
    "pull",
]
