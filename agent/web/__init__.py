"""Thin aiohttp adapters: routes that hand requests to exporter cores."""
