import CurlHTTP
import CoreMetrics
import Prometheus

/// swift-metrics → swift-prometheus, with a `# HELP` line for every metric (promtool's lint
/// requires one; swift-prometheus's own factory registers them without).
public struct DocumentedMetricsFactory: MetricsFactory {
    /// Where every metric is registered and from which `/metrics` is emitted.
    public let registry: PrometheusCollectorRegistry

    /// Buckets for every duration histogram: from a fast loopback delivery to a slow full sync.
    static let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(300),
    ]

    /// What each metric means, as `/metrics` and the README say.
    static let help: [String: String] = [
        "compliance_watch_applications": "Applications in the state store, by status.",
        "compliance_watch_api_requests_total": "Compliance API requests, by outcome.",
        "compliance_watch_poll_cycles_total": "Poll cycles, by scan (hot or full) and result (ok or failed).",
        "compliance_watch_poll_cycle_duration_seconds": "Time a poll cycle took, by scan.",
        "compliance_watch_last_successful_poll_timestamp_seconds":
            "When the last poll cycle that read everything finished (Unix time).",
        "compliance_watch_events_total": "Events recorded, by type.",
        "compliance_watch_deliveries": "Deliveries waiting (pending) or given up (dead), by sink.",
        "compliance_watch_delivery_attempts_total": "Delivery attempts, by sink and result (delivered, retry, failed).",
        "compliance_watch_delivery_latency_seconds": "Time from detecting a change to its delivery, by sink.",
        "compliance_watch_build_info": "The running version and the commit it was built from; always 1.",
    ]

    /// A factory over `registry`.
    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// The name and help text of `label`.
    func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: label,
            unitName: "",
            helpText: Self.help[label] ?? label.replacingOccurrences(of: "_", with: " ")
        )
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(
        label: String,
        dimensions: [(String, String)]
    ) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(
            descriptor: descriptor(label),
            labels: dimensions,
            buckets: Self.durationBuckets.map(\.inSeconds)
        )
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: Self.durationBuckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
