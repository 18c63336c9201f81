"""The admin gateway: one authenticated door in front of every datalake service.

Modules: ``config`` (what to route where), ``keys`` (signing keys, JWKS, users and API keys on disk),
``auth`` (tokens, API keys, identities), ``paths`` (request-line checks before routing), ``ratelimit``,
``audit``, ``proxy`` (HTTP and WebSocket forwarding), ``login`` (browser sessions) and ``app`` (wiring).
"""

from opslake.gateway.config import GatewayConfig, Upstream, gateway_config

__all__ = ["GatewayConfig", "Upstream", "gateway_config"]
