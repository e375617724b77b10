package ledger

import (
	"encoding/binary"

	"github.com/google/uuid"
)

// Pebble key layout. Every key starts with a one-byte prefix; integers are
// big-endian so that byte order is numeric order.
//
//	key                                      value
//	'e' seq:8                                entry bytes (exactly what is hashed)
//	'h' storedHashIndex:8                    32-byte tree hash (tlog.StoredHashIndex order)
//	'i' id:16                                seq:8 (ledgers created before meta's id_index:
//	                                         seq:8 | SHA-256 of the canonical record:32)
//	'c' case_id:16 case_seq:8                seq:8 | leaf hash:32
//	'd' device_id 0x00 seq:8                 device.seq+1:8 (0 when the record had none)
//	'p' size:8                               signed checkpoint note
//	'm' "head"                               size:8 | root:32 | leaf hash of entry size-1:32
//	'm' "meta"                               JSON: format, origin, verifier key, created
const (
	prefixEntry      = 'e'
	prefixHash       = 'h'
	prefixID         = 'i'
	prefixCase       = 'c'
	prefixDevice     = 'd'
	prefixCheckpoint = 'p'
	prefixMeta       = 'm'
)

var (
	keyHead = []byte("mhead")
	keyMeta = []byte("mmeta")
)

func seqKey(prefix byte, n uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:], n)
	return k
}

func idKey(id uuid.UUID) []byte {
	k := make([]byte, 17)
	k[0] = prefixID
	copy(k[1:], id[:])
	return k
}

func caseKey(c uuid.UUID, caseSeq uint64) []byte {
	k := make([]byte, 25)
	k[0] = prefixCase
	copy(k[1:], c[:])
	binary.BigEndian.PutUint64(k[17:], caseSeq)
	return k
}

func devicePrefix(dev string) []byte {
	k := make([]byte, 0, len(dev)+2)
	k = append(k, prefixDevice)
	k = append(k, dev...)
	return append(k, 0)
}

func deviceKey(dev string, seq uint64) []byte {
	k := devicePrefix(dev)
	return binary.BigEndian.AppendUint64(k, seq)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
