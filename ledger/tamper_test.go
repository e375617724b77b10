package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// tamperLedger returns a ledger of n entries over 3 cases and some without a
// case, closed and reopened so that everything is on disk.
func tamperLedger(t *testing.T, n int) (*Ledger, Config) {
	t.Helper()
	cfg := testConfig(t, nil)
	l, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 10 {
		var batch [][]byte
		for j := i; j < min(i+10, n); j++ {
			c := j % 4
			if c == 3 {
				c = -1
			}
			batch = append(batch, rec(j, c))
		}
		mustAppend(t, l, batch...)
	}
	t.Cleanup(func() { closeQuietly(l) })
	return l, cfg
}

func wantCorruptAt(t *testing.T, err error, seq uint64) {
	t.Helper()
	var ce *ChainError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want a *ChainError at seq %d", err, seq)
	}
	if ce.Seq != seq {
		t.Fatalf("got %v (seq %d), want seq %d", err, ce.Seq, seq)
	}
}

func TestTamperDetected(t *testing.T) {
	const n = 100
	for _, k := range []uint64{0, 1, 37, 64, n - 2} {
		t.Run(fmt.Sprintf("flip a byte of %d", k), func(t *testing.T) {
			l, _ := tamperLedger(t, n)
			for _, off := range []int{10, 200} { // in the ledger's members and in the record's
				b, _ := l.EntryAt(k)
				b[off] ^= 0x01
				set(t, l, seqKey(prefixEntry, k), b)
				_, err := l.Verify(context.Background())
				wantCorruptAt(t, err, k)
				b[off] ^= 0x01
				set(t, l, seqKey(prefixEntry, k), b)
			}
		})
		t.Run(fmt.Sprintf("delete %d", k), func(t *testing.T) {
			l, _ := tamperLedger(t, n)
			del(t, l, seqKey(prefixEntry, k))
			_, err := l.Verify(context.Background())
			wantCorruptAt(t, err, k)
		})
		t.Run(fmt.Sprintf("swap %d and %d", k, k+1), func(t *testing.T) {
			l, _ := tamperLedger(t, n)
			a, _ := l.EntryAt(k)
			b, _ := l.EntryAt(k + 1)
			set(t, l, seqKey(prefixEntry, k), b)
			set(t, l, seqKey(prefixEntry, k+1), a)
			_, err := l.Verify(context.Background())
			wantCorruptAt(t, err, k)
		})
		t.Run(fmt.Sprintf("truncate tree hashes from %d", k), func(t *testing.T) {
			l, _ := tamperLedger(t, n)
			from := uint64(tlog.StoredHashIndex(0, int64(k)))
			if err := l.db.DeleteRange(seqKey(prefixHash, from), []byte{prefixHash + 1}, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			_, err := l.Verify(context.Background())
			wantCorruptAt(t, err, k)
		})
		t.Run(fmt.Sprintf("change a tree hash of %d", k), func(t *testing.T) {
			l, _ := tamperLedger(t, n)
			idx := seqKey(prefixHash, uint64(tlog.StoredHashIndex(0, int64(k))))
			set(t, l, idx, bytes.Repeat([]byte{7}, 32))
			_, err := l.Verify(context.Background())
			wantCorruptAt(t, err, k)
		})
		t.Run(fmt.Sprintf("drop the id index row of %d", k), func(t *testing.T) {
			l, _ := tamperLedger(t, n)
			e, _ := l.EntryAt(k)
			d, _ := DecodeEntry(e)
			del(t, l, idKey(d.ID))
			_, err := l.Verify(context.Background())
			wantCorruptAt(t, err, k)
		})
		t.Run(fmt.Sprintf("drop the device index row of %d", k), func(t *testing.T) {
			l, _ := tamperLedger(t, n)
			e, _ := l.EntryAt(k)
			d, _ := DecodeEntry(e)
			del(t, l, deviceKey(d.DeviceID, k))
			_, err := l.Verify(context.Background())
			wantCorruptAt(t, err, k)
		})
	}
	// Swapped values leave the same keys and the same values, row for row
	// in number: only a digest that binds each value to its key sees it.
	t.Run("two device index rows' values swapped", func(t *testing.T) {
		l, _ := tamperLedger(t, n)
		var keys [2][]byte
		var vals [2][]byte
		for i, seq := range []uint64{3, 7} {
			e, _ := l.EntryAt(seq)
			d, _ := DecodeEntry(e)
			keys[i] = deviceKey(d.DeviceID, seq)
			v, err := l.get(keys[i])
			if err != nil {
				t.Fatal(err)
			}
			vals[i] = v
		}
		if bytes.Equal(vals[0], vals[1]) {
			t.Fatalf("the rows hold the same value %x: nothing to swap", vals[0])
		}
		set(t, l, keys[0], vals[1])
		set(t, l, keys[1], vals[0])
		_, err := l.Verify(context.Background())
		wantCorruptAt(t, err, 3)
	})
	t.Run("a case index row's hash changed", func(t *testing.T) {
		l, _ := tamperLedger(t, n)
		e, _ := l.EntryAt(9)
		d, _ := DecodeEntry(e)
		k := caseKey(d.CaseID, d.CaseSeq)
		v, err := l.get(k)
		if err != nil {
			t.Fatal(err)
		}
		v = bytes.Clone(v)
		v[len(v)-1] ^= 1
		set(t, l, k, v)
		_, err = l.Verify(context.Background())
		wantCorruptAt(t, err, 9)
	})
	t.Run("an extra case index row", func(t *testing.T) {
		l, _ := tamperLedger(t, n)
		v := append(seqKey(0, 5)[1:], make([]byte, 32)...)
		set(t, l, caseKey(caseUUID(1), 999), v)
		_, err := l.Verify(context.Background())
		wantCorruptAt(t, err, 5)
	})
}

// TestOpenRefusesDamage closes a ledger, damages it and reopens it: Open
// reconciles the head and refuses to start, naming the seq.
func TestOpenRefusesDamage(t *testing.T) {
	const n = 50
	cases := []struct {
		name   string
		damage func(db *pebble.DB) error
		seq    uint64
	}{
		{"last entry changed", func(db *pebble.DB) error {
			return db.Set(seqKey(prefixEntry, n-1), []byte(`{"v":1}`), pebble.Sync)
		}, n - 1},
		{"last entry missing", func(db *pebble.DB) error {
			return db.Delete(seqKey(prefixEntry, n-1), pebble.Sync)
		}, n - 1},
		{"entry beyond the head", func(db *pebble.DB) error {
			return db.Set(seqKey(prefixEntry, n), []byte(`{}`), pebble.Sync)
		}, n},
		{"tree hashes truncated", func(db *pebble.DB) error {
			return db.Delete(seqKey(prefixHash, uint64(tlog.StoredHashCount(n)-1)), pebble.Sync)
		}, n - 1},
		{"tree root changed", func(db *pebble.DB) error {
			return db.Set(seqKey(prefixHash, uint64(tlog.StoredHashIndex(0, n-1))), bytes.Repeat([]byte{1}, 32), pebble.Sync)
		}, n - 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, cfg := tamperLedger(t, n)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := pebble.Open(cfg.Dir, &pebble.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(db); err != nil {
				t.Fatal(err)
			}
			db.Close()
			_, err = Open(cfg)
			wantCorruptAt(t, err, tc.seq)
		})
	}
}

func set(t *testing.T, l *Ledger, k, v []byte) {
	t.Helper()
	if err := l.db.Set(k, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

func del(t *testing.T, l *Ledger, k []byte) {
	t.Helper()
	if err := l.db.Delete(k, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// TestSumRowsMatchesExpectedRows holds Verify's allocation-free row sums to
// the rows expectedRows names (which locating a mismatch uses), for entries
// with and without a case and with and without a device seq.
func TestSumRowsMatchesExpectedRows(t *testing.T) {
	l, _ := tamperLedger(t, 20)
	noSeq := []byte(`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000999","type":"inspection.recorded","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"长设备-ZFY-140500-0007"},"officers":[{"id":"O-0012","cert_no":"14050020190012","name":"王某"}],"data":{"findings":"x"}}`)
	if res := mustAppend(t, l, noSeq); res[0].Status != Accepted {
		t.Fatalf("a device without seq: %v %v", res[0].Status, res[0].Err)
	}
	seeds := newRowSeeds()
	h := sha256.New()
	size := l.Head().Size
	for seq := range size {
		raw, err := l.EntryAt(seq)
		if err != nil {
			t.Fatal(err)
		}
		e, err := ScanEntry(raw)
		if err != nil {
			t.Fatal(err)
		}
		leaf := LeafHash(raw)
		for _, digest := range []bool{false, true} {
			var got, want [3]indexSum
			if !sumRows(seeds, &got, h, e, seq, leaf, digest) {
				t.Fatalf("entry %d: sumRows failed", seq)
			}
			id, cs, dev := expectedRows(e, seq, leaf, digest)
			for i, row := range [3][2][]byte{id, cs, dev} {
				if row[0] != nil {
					want[i].add(seeds, row[0], row[1])
				}
			}
			if got != want {
				t.Fatalf("entry %d (case %v, device seq %d, digest %v): sumRows %+v, expectedRows %+v", seq, e.CaseID, e.DeviceSeq, digest, got, want)
			}
		}
	}
}

// TestLegacyIDIndex: a ledger created before meta's id_index keeps the
// record's digest in its id index values, and this build still writes,
// answers duplicates and conflicts from, and verifies them.
func TestLegacyIDIndex(t *testing.T) {
	cfg := testConfig(t, nil)
	l, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := l.get(keyMeta)
	if err != nil {
		t.Fatal(err)
	}
	var m meta
	if err := json.Unmarshal(mb, &m); err != nil || m.IDIndex != idIndexSeq {
		t.Fatalf("a new ledger's meta: %s (%v)", mb, err)
	}
	m.IDIndex = ""
	mb, _ = json.Marshal(m)
	set(t, l, keyMeta, mb)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeQuietly(l) })
	if !l.idDigest {
		t.Fatal("a ledger without id_index in its meta is not read as the earlier layout")
	}
	var batch [][]byte
	for i := range 30 {
		batch = append(batch, rec(i, i%3))
	}
	mustAppend(t, l, batch...)
	again := mustAppend(t, l, rec(3, 0), bytes.Replace(rec(4, 1), []byte(`"n":4`), []byte(`"n":5`), 1))
	if again[0].Status != Duplicate || again[0].Seq != 3 {
		t.Errorf("resubmitted record 3: %v seq %d, want duplicate of 3", again[0].Status, again[0].Seq)
	}
	if again[1].Status != Conflict || again[1].Seq != 4 {
		t.Errorf("changed record 4: %v seq %d, want conflict with 4", again[1].Status, again[1].Seq)
	}
	e, _ := l.EntryAt(7)
	d, _ := DecodeEntry(e)
	v, err := l.get(idKey(d.ID))
	if err != nil || len(v) != 40 {
		t.Fatalf("id index value: %x %v, want seq and digest", v, err)
	}
	if _, err := l.Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	v = bytes.Clone(v)
	v[39] ^= 1
	set(t, l, idKey(d.ID), v)
	_, err = l.Verify(context.Background())
	wantCorruptAt(t, err, 7)
}
