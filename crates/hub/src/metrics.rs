//! Counters for what happens at the edge (connections, TLS, refusals, throttles), kept in
//! atomics the connection tasks bump; the router adds its own (clients, rooms, messages,
//! deliveries, cuts) when it renders them, as Prometheus text or as the console's `/stats`.

use std::sync::atomic::{AtomicU64, Ordering};

/// See the module documentation. One per hub, shared by every connection.
#[derive(Debug, Default)]
pub struct Metrics {
    pub sessions_plain: AtomicU64,
    pub sessions_irc: AtomicU64,
    pub sessions_tls: AtomicU64,
    /// Connections that became WebSockets (`/ws`).
    pub websockets: AtomicU64,
    /// Pages and assets of the browser client served.
    pub web_pages: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    pub refused_per_address: AtomicU64,
    pub refused_unregistered: AtomicU64,
    pub refused_connect_rate: AtomicU64,
    /// Unregistered connections closed to make room for a newcomer.
    pub evicted_unregistered: AtomicU64,
    pub refused_tls_only: AtomicU64,
    pub refused_not_chat: AtomicU64,
    pub lines_in: AtomicU64,
    pub throttled: AtomicU64,
    pub flood_cuts: AtomicU64,
    pub registration_timeouts: AtomicU64,
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What the router knows, for rendering.
#[derive(Debug, Default, Clone, Copy)]
pub struct RouterFigures {
    pub connections_open: u64,
    pub clients: u64,
    pub rooms: u64,
    pub connects: u64,
    pub messages: u64,
    pub deliveries: u64,
    pub slow_consumers: u64,
    pub shed: u64,
    pub oper_failures: u64,
    pub queued_bytes: u64,
    pub uptime_secs: u64,
    /// History (zero without a store): bytes on disk, transactions written, and their total
    /// and longest time in microseconds.
    pub history_bytes: u64,
    pub history_writes: u64,
    pub history_write_us: u64,
    pub history_write_us_max: u64,
}

impl Metrics {
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self, r: &RouterFigures) -> String {
        let g = Self::get;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, values: &[(&str, u64)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, v) in values {
                if labels.is_empty() {
                    out.push_str(&format!("{name} {v}\n"));
                } else {
                    out.push_str(&format!("{name}{{{labels}}} {v}\n"));
                }
            }
        };
        metric(
            "obrol_connections_open",
            "gauge",
            "Open connections.",
            &[("", r.connections_open)],
        );
        metric(
            "obrol_clients",
            "gauge",
            "Registered clients.",
            &[("", r.clients)],
        );
        metric("obrol_rooms", "gauge", "Rooms.", &[("", r.rooms)]);
        metric(
            "obrol_history_bytes",
            "gauge",
            "Bytes the history store takes on disk.",
            &[("", r.history_bytes)],
        );
        metric(
            "obrol_history_writes_total",
            "counter",
            "History transactions written (one per router turn that said something).",
            &[("", r.history_writes)],
        );
        metric(
            "obrol_history_write_microseconds_total",
            "counter",
            "Time spent writing history, in microseconds.",
            &[("", r.history_write_us)],
        );
        metric(
            "obrol_sessions_total",
            "counter",
            "Connections that became chat sessions, by protocol; those over TLS also by transport.",
            &[
                ("protocol=\"plain\"", g(&self.sessions_plain)),
                ("protocol=\"irc\"", g(&self.sessions_irc)),
                ("transport=\"tls\"", g(&self.sessions_tls)),
                ("transport=\"websocket\"", g(&self.websockets)),
            ],
        );
        metric(
            "obrol_web_pages_total",
            "counter",
            "Pages and assets of the browser client served.",
            &[("", g(&self.web_pages))],
        );
        metric(
            "obrol_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or timed out.",
            &[("", g(&self.tls_handshake_failures))],
        );
        metric(
            "obrol_refused_total",
            "counter",
            "Connections turned away, by reason.",
            &[
                ("reason=\"per_address\"", g(&self.refused_per_address)),
                ("reason=\"unregistered\"", g(&self.refused_unregistered)),
                ("reason=\"connect_rate\"", g(&self.refused_connect_rate)),
                ("reason=\"tls_only\"", g(&self.refused_tls_only)),
                ("reason=\"not_chat\"", g(&self.refused_not_chat)),
            ],
        );
        metric(
            "obrol_unregistered_evicted_total",
            "counter",
            "Unregistered connections closed to make room for a newcomer.",
            &[("", g(&self.evicted_unregistered))],
        );
        metric(
            "obrol_registrations_total",
            "counter",
            "Clients admitted.",
            &[("", r.connects)],
        );
        metric(
            "obrol_lines_received_total",
            "counter",
            "Lines received from clients.",
            &[("", g(&self.lines_in))],
        );
        metric(
            "obrol_messages_total",
            "counter",
            "Chat messages relayed.",
            &[("", r.messages)],
        );
        metric(
            "obrol_deliveries_total",
            "counter",
            "Messages queued for clients.",
            &[("", r.deliveries)],
        );
        metric(
            "obrol_throttled_total",
            "counter",
            "Times a client was slowed to the line rate.",
            &[("", g(&self.throttled))],
        );
        metric(
            "obrol_disconnects_total",
            "counter",
            "Clients the hub disconnected, by reason.",
            &[
                ("reason=\"flood\"", g(&self.flood_cuts)),
                (
                    "reason=\"slow_consumer\"",
                    r.slow_consumers.saturating_sub(r.shed),
                ),
                ("reason=\"output_budget\"", r.shed),
                (
                    "reason=\"registration_timeout\"",
                    g(&self.registration_timeouts),
                ),
            ],
        );
        metric(
            "obrol_auth_failures_total",
            "counter",
            "Failed authentication attempts, by kind.",
            &[("kind=\"oper\"", r.oper_failures)],
        );
        metric(
            "obrol_queued_bytes",
            "gauge",
            "Unread output queued for all clients.",
            &[("", r.queued_bytes)],
        );
        metric(
            "obrol_uptime_seconds",
            "gauge",
            "Seconds since the hub started.",
            &[("", r.uptime_secs)],
        );
        out
    }

    /// The console's `/stats` line: the same figures as `key=value` pairs.
    pub fn stats_line(&self, r: &RouterFigures) -> String {
        let g = Self::get;
        format!(
            "clients={} rooms={} connects={} messages={} deliveries={} slow_consumers={} uptime={}s \
             shed={} queued_bytes={} connections={} sessions_plain={} sessions_irc={} sessions_tls={} \
             tls_failures={} refused_per_address={} refused_unregistered={} refused_connect_rate={} evicted_unregistered={} refused_tls_only={} \
             lines_in={} throttled={} flood_cuts={} registration_timeouts={} oper_failures={} \
             history_bytes={} history_writes={} history_write_avg_us={} history_write_max_us={}",
            r.clients,
            r.rooms,
            r.connects,
            r.messages,
            r.deliveries,
            r.slow_consumers,
            r.uptime_secs,
            r.shed,
            r.queued_bytes,
            r.connections_open,
            g(&self.sessions_plain),
            g(&self.sessions_irc),
            g(&self.sessions_tls),
            g(&self.tls_handshake_failures),
            g(&self.refused_per_address),
            g(&self.refused_unregistered),
            g(&self.refused_connect_rate),
            g(&self.evicted_unregistered),
            g(&self.refused_tls_only),
            g(&self.lines_in),
            g(&self.throttled),
            g(&self.flood_cuts),
            g(&self.registration_timeouts),
            r.oper_failures,
            r.history_bytes,
            r.history_writes,
            r.history_write_us / r.history_writes.max(1),
            r.history_write_us_max,
        )
    }
}
