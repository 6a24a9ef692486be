"""The gateway's nginx configuration: one template, rendered by the nginx image
in docker compose and by :mod:`instasaga_gateway.render` for ``make dev`` and tests."""
