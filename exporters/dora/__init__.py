"""DORA exporter: deployments, commits and incidents from GitHub, GitLab, git, generic
events and Alertmanager, kept in a durable store, exposed as the four keys and rework rate.

`exporter.build(config, ctx)` is the entry point; importing this package loads nothing
else, so the config models in `config.py` stay cheap to import.
"""
