"""Prometheus metrics of one engine (its own registry: tests and several engines never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.fills = Counter("arbtui_fills", "Onchain fills recorded", ["symbol"], registry=r)
        self.skipped_fills = Counter("arbtui_skipped_fills", "Logs of our owner that could not be decoded", registry=r)
        self.hedges = Counter("arbtui_hedges", "Broker executions by final status", ["symbol", "status"], registry=r)
        self.fill_to_submit = Histogram(
            "arbtui_fill_to_submit_seconds",
            "From the placement being recorded to the broker accepting the order",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.submit_to_fill = Histogram(
            "arbtui_submit_to_fill_seconds", "From broker acceptance to terminal fill", registry=r
        )
        self.limit_hedges = Counter(
            "arbtui_limit_hedges",
            "Limit hedge attempts outside the regular session: placed, repriced (a replacement placed),"
            " filled, ended (cancelled or expired at the broker, fill reconciled)",
            ["symbol", "outcome"],
            registry=r,
        )
        self.flatten_hedges = Counter(
            "arbtui_flatten_hedges",
            "Flatten before a long close: attempts placed inside the window, executions that filled,"
            " and executions the close left unfilled (held until the next session)",
            ["symbol", "outcome"],
            registry=r,
        )
        self.preflight_refusals = Counter(
            "arbtui_preflight_refusals",
            "Hedge attempts held by the preflight, by the account figure that refused them"
            " (shares, non_marginable_buying_power, cash)",
            ["symbol", "figure"],
            registry=r,
        )
        self.unhedged = Gauge("arbtui_unhedged_shares", "Net shares not yet hedged (signed)", ["symbol"], registry=r)
        self.exposure_usd = Gauge(
            "arbtui_unhedged_exposure_usd",
            "Open exposure: |onchain fills no broker fill has offset yet (net + the hedge in flight)| × the"
            " latest onchain fill's price",
            ["symbol"],
            registry=r,
        )
        self.exposure_age = Gauge(
            "arbtui_unhedged_exposure_age_seconds",
            "How long the symbol's open exposure has been at or past its hedging threshold (0 under it);"
            " counted from when this engine first saw it so, refreshed at every commit and scan",
            ["symbol"],
            registry=r,
        )
        self.broker_errors = Counter("arbtui_broker_errors", "Broker errors by type", ["kind"], registry=r)
        self.rate_limited = Counter("arbtui_rate_limit_hits", "HTTP 429 answers from the broker", registry=r)
        self.rpc_errors = Counter("arbtui_rpc_errors", "Chain RPC/intake errors", registry=r)
        self.chain_head = Gauge("arbtui_chain_cursor_block", "Last block fully recorded", registry=r)
        self.node_head = Gauge("arbtui_chain_node_head_block", "Newest block the node announced", registry=r)
        self.inconsistent_logs = Counter(
            "arbtui_intake_inconsistent_logs",
            "Our logs an eth_getLogs answer lacked, found by the block's receipts or by the trailing re-read",
            ["found_by"],
            registry=r,
        )
        self.receipt_reads = Counter(
            "arbtui_intake_receipt_reads",
            "Blocks whose bloom may hold our logs while the log answer held none, read again from receipts",
            registry=r,
        )
        self.unconfirmed_waits = Counter(
            "arbtui_intake_unconfirmed_waits",
            "Passes that stopped before a block its receipts could not confirm",
            registry=r,
        )
        self.alerts_delivered = Counter(
            "arbtui_alerts_delivered", "Alerts a sink (webhook, telegram) accepted", ["sink"], registry=r
        )
        self.alerts_failed = Counter(
            "arbtui_alerts_failed", "Alerts a sink did not accept after every attempt", ["sink"], registry=r
        )
        self.alerts_dropped = Counter(
            "arbtui_alerts_dropped",
            "Alerts never sent: the sink's queue was full (oldest dropped) or the engine stopped first",
            ["sink"],
            registry=r,
        )
        self.alerts_queued = Gauge("arbtui_alerts_queued", "Alerts waiting for delivery", ["sink"], registry=r)
