"""What a run leaves behind: its report, debug dumps, OpenTelemetry spans, Prometheus series."""
