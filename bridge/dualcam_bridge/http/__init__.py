"""The bridge's HTTP service: stored files by signed link, ``/healthz`` and ``/metrics``."""
