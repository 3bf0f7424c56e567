"""Cloud cost exporter: AWS Cost Explorer and FOCUS billing files → Prometheus.

`exporter.build(config, ctx)` is the entry point; importing this package loads nothing
else, so the config models in `config.py` stay cheap to import.
"""
