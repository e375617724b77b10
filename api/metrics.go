package api

import (
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/liuhen/liuhen/internal/pebblestats"
	"github.com/liuhen/liuhen/ledger"
)

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// metrics are the API's Prometheus metrics. Names are part of the
// operations contract (docs/operations.md); do not rename.
type metrics struct {
	requests   *prometheus.CounterVec   // liuhen_http_requests_total{route,code}
	duration   *prometheus.HistogramVec // liuhen_http_request_duration_seconds{route}
	records    *prometheus.CounterVec   // liuhen_events_total{status}
	appendDur  prometheus.Histogram     // liuhen_append_duration_seconds
	batchSize  prometheus.Histogram     // liuhen_append_batch_records
	mediaBytes prometheus.Counter       // liuhen_media_received_bytes_total
	custody    prometheus.Counter       // liuhen_custody_entries_total
	held       prometheus.Histogram     // liuhen_ingest_held_seconds
	backups    *prometheus.CounterVec   // liuhen_backups_total{result}
	backupLast prometheus.Gauge         // liuhen_backup_last_success_timestamp_seconds
	backupSize prometheus.Gauge         // liuhen_backup_last_success_entries
	handler    http.Handler
}

func newMetrics(cfg *Config) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liuhen_http_requests_total", Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "liuhen_http_request_duration_seconds", Help: "Time to answer HTTP requests, by route pattern.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10},
		}, []string{"route"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liuhen_events_total", Help: "Records submitted to POST /v1/events, by result status (the append rate is the rate of status=\"accepted\").",
		}, []string{"status"}),
		appendDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "liuhen_append_duration_seconds", Help: "Time a request waits for the ledger to append and fsync its records (queueing, group commit and fsync).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "liuhen_append_batch_records", Help: "Valid records per POST /v1/events request handed to the ledger.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
		mediaBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liuhen_media_received_bytes_total", Help: "Media bytes received by PUT and PATCH /v1/media.",
		}),
		custody: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liuhen_custody_entries_total", Help: "custody.accessed entries written for media reads.",
		}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liuhen_backups_total", Help: "Backups asked for with GET /v1/admin/backup, by result: sent (the whole archive went out), cut (the stream broke off), failed (nothing was sent).",
		}, []string{"result"}),
		backupLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liuhen_backup_last_success_timestamp_seconds", Help: "When the last backup was sent whole (Unix time; 0: none since the server started).",
		}),
		backupSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liuhen_backup_last_success_entries", Help: "Entries in the last backup sent whole.",
		}),
		held: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "liuhen_ingest_held_seconds", Help: "Time POST /v1/events requests were held back while the JetStream publisher was too far behind (only requests that were held).",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5},
		}),
	}
	l := cfg.Ledger
	for _, r := range []string{"sent", "cut", "failed"} {
		m.backups.WithLabelValues(r) // every result shows, at 0
	}
	cs := []prometheus.Collector{m.requests, m.duration, m.records, m.appendDur, m.batchSize, m.mediaBytes, m.custody, m.held,
		m.backups, m.backupLast, m.backupSize,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "liuhen_ledger_size", Help: "Entries in the ledger (durable head)."},
			func() float64 { return float64(l.Head().Size) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "liuhen_checkpoint_size", Help: "Size of the latest signed checkpoint."},
			func() float64 {
				if cp := l.Checkpoint(); cp != nil {
					return float64(cp.Size)
				}
				return 0
			}),
		&fsyncCollector{l: l, desc: prometheus.NewDesc("liuhen_wal_fsync_duration_seconds",
			"Pebble WAL fsync latency of the ledger.", nil, nil)},
	}
	if wf := cfg.Witnessed; wf != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "liuhen_witnessed_checkpoint_size",
			Help: "Size of the latest checkpoint the witness policy's quorum cosigned (0: none yet)."},
			func() float64 {
				if cp, err := ledger.OpenCheckpoint(wf(), l.Origin(), l.Verifier()); err == nil {
					return float64(cp.Size)
				}
				return 0
			}))
	}
	if p := cfg.Publisher; p != nil {
		cs = append(cs,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "liuhen_publisher_position", Help: "Entries published to JetStream."},
				func() float64 { pos, _, _ := p.Status(); return float64(pos) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "liuhen_publisher_lag_entries", Help: "Entries not yet published."},
				func() float64 { _, lag, _ := p.Status(); return float64(lag) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "liuhen_publisher_lag_seconds", Help: "Age of the oldest unpublished entry."},
				func() float64 { _, _, sec := p.Status(); return sec }))
	}
	if p := cfg.Projections; p != nil {
		cs = append(cs, &projectionCollector{p: p, desc: prometheus.NewDesc("liuhen_projection_position",
			"Entries handled by each projection.", []string{"projection"}, nil)})
	}
	sc := newStorageCollector(func() map[string]pebblestats.Stats {
		m := map[string]pebblestats.Stats{}
		if st, ok := l.StorageStats(); ok {
			m["ledger"] = st
		}
		if p, ok := cfg.Projections.(StorageStatus); ok {
			maps.Copy(m, p.StorageStats())
		}
		return m
	})
	cs = append(cs, sc)
	for _, c := range cs {
		if err := cfg.Registry.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})
	return m, nil
}

func (m *metrics) observeRequest(route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	if status == 0 {
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) observeAppend(n int, d time.Duration) {
	m.batchSize.Observe(float64(n))
	m.appendDur.Observe(d.Seconds())
}

func (m *metrics) observeResults(rs []Result) {
	var counts [4]int
	for _, r := range rs {
		switch r.Status {
		case StatusAccepted:
			counts[0]++
		case StatusDuplicate:
			counts[1]++
		case StatusConflict:
			counts[2]++
		default:
			counts[3]++
		}
	}
	for i, name := range [4]string{StatusAccepted, StatusDuplicate, StatusConflict, StatusRejected} {
		if counts[i] > 0 {
			m.records.WithLabelValues(name).Add(float64(counts[i]))
		}
	}
}

// serveMetrics is GET /metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ *Token) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}

type projectionCollector struct {
	p    ProjectionStatus
	desc *prometheus.Desc
}

func (c *projectionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *projectionCollector) Collect(ch chan<- prometheus.Metric) {
	for name, pos := range c.p.Positions() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(pos), name)
	}
}

// fsyncCollector re-exports Pebble's WAL fsync histogram, which counts
// nanoseconds and has no name, as liuhen_wal_fsync_duration_seconds.
type fsyncCollector struct {
	l interface {
		WALFsyncLatency() prometheus.Histogram
	}
	desc *prometheus.Desc
}

func (c *fsyncCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *fsyncCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.l.WALFsyncLatency()
	if h == nil {
		return
	}
	var m dto.Metric
	if err := h.Write(&m); err != nil || m.Histogram == nil {
		return
	}
	buckets := make(map[float64]uint64, len(m.Histogram.Bucket))
	for _, b := range m.Histogram.Bucket {
		buckets[b.GetUpperBound()/1e9] = b.GetCumulativeCount()
	}
	ch <- prometheus.MustNewConstHistogram(c.desc, m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()/1e9, buckets)
}

// storageCollector exports the Pebble figures of the ledger and of the
// read models, labelled by database ("ledger", "projections/<store>").
type storageCollector struct {
	stats                                       func() map[string]pebblestats.Stats
	disk, written, memtable, l0, compactionDebt *prometheus.Desc
}

func newStorageCollector(stats func() map[string]pebblestats.Stats) *storageCollector {
	db := []string{"db"}
	return &storageCollector{
		stats: stats,
		disk:  prometheus.NewDesc("liuhen_storage_disk_bytes", "Bytes on disk of each Pebble database (tables, WAL, manifest).", db, nil),
		written: prometheus.NewDesc("liuhen_storage_written_bytes_total",
			"Bytes each Pebble database has written since it was opened, by kind: wal, flush (memtables to tables), compaction.",
			[]string{"db", "kind"}, nil),
		memtable:       prometheus.NewDesc("liuhen_storage_memtable_bytes", "Bytes of memory the memtables hold (allocated for writes not yet flushed).", db, nil),
		l0:             prometheus.NewDesc("liuhen_storage_l0_files", "Tables in level 0; many means compactions are behind and reads slow down.", db, nil),
		compactionDebt: prometheus.NewDesc("liuhen_storage_compaction_debt_bytes", "Pebble's estimate of the bytes compactions must still rewrite.", db, nil),
	}
}

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.disk, c.written, c.memtable, c.l0, c.compactionDebt} {
		ch <- d
	}
}

func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	for name, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(c.disk, prometheus.GaugeValue, float64(s.DiskBytes), name)
		ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(s.WALBytesWritten), name, "wal")
		ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(s.FlushedBytesWritten), name, "flush")
		ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(s.CompactedBytesWritten), name, "compaction")
		ch <- prometheus.MustNewConstMetric(c.memtable, prometheus.GaugeValue, float64(s.MemTableBytes), name)
		ch <- prometheus.MustNewConstMetric(c.l0, prometheus.GaugeValue, float64(s.L0Files), name)
		ch <- prometheus.MustNewConstMetric(c.compactionDebt, prometheus.GaugeValue, float64(s.CompactionDebtBytes), name)
	}
}
