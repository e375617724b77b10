// Package pebblestats picks out of a Pebble database's metrics what an
// operator of liuhen watches: how much disk it takes, how much it has
// written (the WAL, memtable flushes, compactions: their sum over what the
// application wrote is the write amplification), and whether compactions
// keep up (files in L0, the bytes compactions still owe).
package pebblestats

import "github.com/cockroachdb/pebble/v2"

// Stats are one database's figures at one moment. The byte counts that end
// in Written only grow while the database is open.
type Stats struct {
	DiskBytes             uint64 // on disk: tables, WAL, manifest and the rest (DiskSpaceUsage)
	WALBytesWritten       uint64 // written to the write-ahead log
	FlushedBytesWritten   uint64 // written to tables by memtable flushes
	CompactedBytesWritten uint64 // written to tables by compactions
	MemTableBytes         uint64 // memory the memtables hold (allocated for writes not yet flushed)
	L0Files               int64  // tables in level 0: each is read by every lookup that reaches it
	CompactionDebtBytes   uint64 // Pebble's estimate of what compactions must still rewrite
}

// Of returns db's figures now.
func Of(db *pebble.DB) Stats {
	m := db.Metrics()
	s := Stats{
		DiskBytes:           m.DiskSpaceUsage(),
		WALBytesWritten:     m.WAL.BytesWritten,
		MemTableBytes:       m.MemTable.Size,
		L0Files:             m.Levels[0].TablesCount,
		CompactionDebtBytes: m.Compact.EstimatedDebt,
	}
	for _, l := range m.Levels {
		s.FlushedBytesWritten += l.TableBytesFlushed
		s.CompactedBytesWritten += l.TableBytesCompacted
	}
	return s
}
