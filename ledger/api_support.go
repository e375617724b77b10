package ledger

import "github.com/prometheus/client_golang/prometheus"

// WALFsyncLatency returns Pebble's histogram of the ledger's WAL fsync
// latencies, in nanoseconds, for the HTTP API's /metrics. It may be nil
// before the first write.
func (l *Ledger) WALFsyncLatency() prometheus.Histogram {
	return l.db.Metrics().LogWriter.FsyncLatency
}
