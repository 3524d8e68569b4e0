"""Prometheus metrics for the daemon (`--metrics-port`): sends by channel and status, queue
depth by status, tick durations, feed errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from outreach.core.outbox import State
from outreach.services.dispatch import RunReport


class Metrics:
    def __init__(self, queue_counts: Callable[[], Mapping[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self.queue_counts = queue_counts
        self.sends = Counter(
            "outreach_sends", "Outbox rows settled, by channel and status",
            ["channel", "status"], registry=self.registry,
        )  # fmt: skip
        self.queue = Gauge(
            "outreach_queue_depth", "Outbox rows by status", ["status"], registry=self.registry
        )
        self.ticks = Histogram(
            "outreach_tick_seconds", "How long each job took", ["job"], registry=self.registry
        )
        self.planned = Counter(
            "outreach_planned", "Outbox rows recorded by planning (an error: new or changed)",
            ["status"], registry=self.registry,
        )  # fmt: skip
        self.feed_errors = Counter(
            "outreach_feed_errors", "Feed fetches that failed", ["feed"], registry=self.registry
        )

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        start_http_server(port, addr=address, registry=self.registry)

    def on_tick(self, job: str, seconds: float, result: Any) -> None:
        self.ticks.labels(job=job.split(":", 1)[0]).observe(seconds)
        if isinstance(result, RunReport):
            for (channel, status), count in result.by_channel.items():
                self.sends.labels(channel=channel, status=status).inc(count)
            for status, count in result.recorded.items():
                self.planned.labels(status=status).inc(count)
        if job.startswith("feed:") and getattr(result, "status", None) == "error":
            self.feed_errors.labels(feed=job.removeprefix("feed:")).inc()
        if job == "dispatch":
            counts = self.queue_counts()
            for status in State:  # every one, so that a status that emptied reads 0
                self.queue.labels(status=status).set(counts.get(status, 0))
