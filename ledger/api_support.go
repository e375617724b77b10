package ledger

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liuhen/liuhen/internal/pebblestats"
)

// WALFsyncLatency returns Pebble's histogram of the ledger's WAL fsync
// latencies, in nanoseconds, for the HTTP API's /metrics. It may be nil
// before the first write, and is nil once the ledger is closed.
func (l *Ledger) WALFsyncLatency() prometheus.Histogram {
	if l.enter() != nil {
		return nil
	}
	defer l.leave()
	return l.db.Metrics().LogWriter.FsyncLatency
}

// StorageStats returns the figures of the ledger's Pebble database, for the
// HTTP API's /metrics; ok is false once the ledger is closed.
func (l *Ledger) StorageStats() (s pebblestats.Stats, ok bool) {
	if l.enter() != nil {
		return s, false
	}
	defer l.leave()
	return pebblestats.Of(l.db), true
}
