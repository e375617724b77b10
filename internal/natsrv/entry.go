package natsrv

import "github.com/liuhen/liuhen/ledger"

// ScanEntry is ledger.ScanEntry, the one fast entry decoder; it stays here
// for the readers that import it from this package.
func ScanEntry(b []byte) (*ledger.Entry, error) { return ledger.ScanEntry(b) }
