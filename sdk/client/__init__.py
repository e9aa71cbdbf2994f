"""The app-facing client: `Client.predict` routes each call to the edge or the cloud and returns the Decision."""

from sdk.client.aio import AsyncClient
from sdk.client.client import Client, Result
from sdk.client.config import ClientConfig

__all__ = ["AsyncClient", "Client", "ClientConfig", "Result"]
