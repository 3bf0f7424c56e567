"""`opslens report`: the cost, delivery, reliability and alerts review, read from Prometheus.

queries (PromQL plan) → prometheus (HTTP I/O) → build (pure model) → render (templates,
inline SVG) → mail (SMTP); `scheduler` sends configured reports from `opslens run`.
"""
