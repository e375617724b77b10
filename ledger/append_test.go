package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
)

func TestAppendResults(t *testing.T) {
	cfg := testConfig(t, nil)
	l := newTestLedger(t, cfg)
	big := fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000999","type":"inspection.recorded","case_id":"0193f09e-1111-7000-8000-000000000001","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"D"},"data":{"findings":"%s"}}`, strings.Repeat("x", MaxRecordSize))
	conflicting := bytes.Replace(rec(1, 1), []byte(`"n":1`), []byte(`"n":2`), 1)
	tests := []struct {
		name     string
		raw      []byte
		want     Status
		wantSeq  uint64
		wantCode string
	}{
		{"accepted", rec(1, 1), Accepted, 0, ""},
		{"accepted without case", rec(2, -1), Accepted, 1, ""},
		{"duplicate", rec(1, 1), Duplicate, 0, ""},
		{"duplicate, other key order and spacing", []byte(reorder(rec(1, 1))), Duplicate, 0, ""},
		{"conflict", conflicting, Conflict, 0, ""},
		{"bad uuid", []byte(`{"id":"nope","type":"inspection.recorded","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"D"}}`), Invalid, 0, CodeInvalidField},
		{"uppercase uuid", []byte(`{"id":"0193F0A2-7C1E-7B3A-9D55-000000000009","type":"a.b","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"D"}}`), Invalid, 0, CodeInvalidField},
		{"duplicate member name", []byte(`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000011","id":"0193f0a2-7c1e-7b3a-9d55-000000000012","type":"a.b","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"D"}}`), Invalid, 0, CodeMalformedJSON},
		{"integer beyond 2^53", []byte(`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000013","type":"a.b","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"D"},"data":{"fine_fen":9007199254740993}}`), Invalid, 0, CodeInvalidField},
		{"missing type", []byte(`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000003","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"D"}}`), Invalid, 0, CodeMissingField},
		{"occurred_at without offset", []byte(`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000004","type":"inspection.recorded","occurred_at":"2020-05-12T09:31:02","device":{"id":"D"}}`), Invalid, 0, CodeInvalidField},
		{"over 64 KiB", []byte(big), Invalid, 0, CodeTooLarge},
		{"not an object", []byte(`[1]`), Invalid, 0, CodeNotObject},
		{"malformed", []byte(`{"id":`), Invalid, 0, CodeMalformedJSON},
		{"trailing data", append(rec(5, -1), []byte(`{}`)...), Invalid, 0, CodeMalformedJSON},
		{"reserved field", []byte(`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000006","type":"a.b","seq":3,"occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"D"}}`), Invalid, 0, CodeReservedField},
		{"missing device", []byte(`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000007","type":"a.b","occurred_at":"2020-05-12T09:31:02+08:00"}`), Invalid, 0, CodeMissingField},
		{"negative device seq", []byte(`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000008","type":"a.b","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"D","seq":-1}}`), Invalid, 0, CodeInvalidField},
		{"bad case id", []byte(`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000010","type":"a.b","case_id":"x","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"D"}}`), Invalid, 0, CodeInvalidField},
		{"invalid utf-8", []byte("{\"id\":\"\xff\"}"), Invalid, 0, CodeMalformedJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustAppend(t, l, tt.raw)[0]
			if res.Status != tt.want {
				t.Fatalf("Append(%.80s) = %v (%v), want %v", tt.raw, res.Status, res.Err, tt.want)
			}
			switch tt.want {
			case Invalid:
				var ie *InvalidError
				if !errors.As(res.Err, &ie) || ie.Code != tt.wantCode {
					t.Fatalf("Append(%.80s) error = %v, want code %s", tt.raw, res.Err, tt.wantCode)
				}
			case Conflict:
				if !errors.Is(res.Err, ErrConflict) || res.Seq != tt.wantSeq {
					t.Fatalf("Append conflict = seq %d, %v; want seq %d, ErrConflict", res.Seq, res.Err, tt.wantSeq)
				}
			default:
				if res.Seq != tt.wantSeq {
					t.Fatalf("Append(%.80s) seq = %d, want %d", tt.raw, res.Seq, tt.wantSeq)
				}
				if got, _ := l.LeafHashAt(res.Seq); got != res.Hash {
					t.Fatalf("result hash %s, stored leaf %s", Hex(res.Hash), Hex(got))
				}
			}
		})
	}
	if h := l.Head(); h.Size != 2 {
		t.Fatalf("Head().Size = %d, want 2: only accepted records become entries", h.Size)
	}
}

// reorder re-encodes a record with its top-level members in reverse order
// and extra spaces, to show that duplicates compare content, not bytes.
func reorder(b []byte) string {
	r, err := ParseRecord(b)
	if err != nil {
		panic(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Canonical(), &fields); err != nil {
		panic(err)
	}
	keys := slices.Sorted(maps.Keys(fields))
	var sb strings.Builder
	sb.WriteString("{ ")
	for i := len(keys) - 1; i >= 0; i-- {
		fmt.Fprintf(&sb, "%q : %s", keys[i], fields[keys[i]])
		if i > 0 {
			sb.WriteString(" , ")
		}
	}
	sb.WriteString(" }")
	return sb.String()
}

func TestBatchMixedAndDuplicateAfterReopen(t *testing.T) {
	cfg := testConfig(t, nil)
	l, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := mustAppend(t, l, rec(1, 7), []byte(`{broken`), rec(2, 7), rec(1, 7), rec(3, -1))
	want := []Status{Accepted, Invalid, Accepted, Duplicate, Accepted}
	for i, r := range res {
		if r.Status != want[i] {
			t.Fatalf("result %d = %v, want %v", i, r.Status, want[i])
		}
	}
	if res[2].CaseSeq != 2 || res[3].Seq != res[0].Seq {
		t.Fatalf("case_seq %d (want 2), duplicate seq %d (want %d)", res[2].CaseSeq, res[3].Seq, res[0].Seq)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(Config{Dir: cfg.Dir, Signer: testSigner})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	res = mustAppend(t, l, rec(2, 7), rec(4, 7))
	if res[0].Status != Duplicate || res[0].Seq != 1 {
		t.Fatalf("duplicate after reopen = %v seq %d, want duplicate seq 1", res[0].Status, res[0].Seq)
	}
	if res[1].Status != Accepted || res[1].CaseSeq != 3 {
		t.Fatalf("after reopen = %v case_seq %d, want accepted case_seq 3", res[1].Status, res[1].CaseSeq)
	}
	e, _ := l.EntryAt(res[1].Seq)
	d, err := DecodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	prevCase, _ := l.LeafHashAt(1)
	if d.CasePrev != prevCase {
		t.Fatalf("case_prev = %s, want leaf hash of seq 1 %s", Hex(d.CasePrev), Hex(prevCase))
	}
	if _, err := l.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	l := newTestLedger(t, testConfig(t, nil))
	const workers, per = 16, 50
	var wg sync.WaitGroup
	seen := make([][]Result, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				res, err := l.Append(context.Background(), [][]byte{rec(w*per+i, (w*per+i)%5)})
				if err != nil {
					t.Error(err)
					return
				}
				seen[w] = append(seen[w], res[0])
			}
		}()
	}
	wg.Wait()
	got := map[uint64]bool{}
	for _, rs := range seen {
		for _, r := range rs {
			if r.Status != Accepted || got[r.Seq] {
				t.Fatalf("result %+v: want a fresh accepted seq", r)
			}
			got[r.Seq] = true
		}
	}
	if h := l.Head(); h.Size != workers*per || len(got) != workers*per {
		t.Fatalf("size %d, distinct seqs %d, want %d", h.Size, len(got), workers*per)
	}
	// Every case chain is dense: 5 cases, 160 entries each.
	for c := range 5 {
		n := 0
		seqs, seqsErr := l.CaseSeqs(caseUUID(c), 1)
		for cs := range seqs {
			n++
			if cs != uint64(n) {
				t.Fatalf("case %d: case_seq %d at position %d", c, cs, n)
			}
		}
		if err := seqsErr(); err != nil {
			t.Fatal(err)
		}
		if n != workers*per/5 {
			t.Fatalf("case %d has %d entries, want %d", c, n, workers*per/5)
		}
	}
}

func TestCreateAndOpenAreSeparate(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(Config{Dir: filepath.Join(dir, "missing"), Signer: testSigner}); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Open(missing) = %v, want ErrNotExist", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: filepath.Join(dir, "empty"), Signer: testSigner}); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Open(empty) = %v, want ErrNotExist", err)
	}
	cfg := Config{Dir: filepath.Join(dir, "l"), Origin: testOrigin, Signer: testSigner}
	l, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := Create(cfg); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over an existing ledger = %v, want ErrExists", err)
	}
	other, _ := NewSigner(mustKey(t, testOrigin))
	if _, err := Open(Config{Dir: cfg.Dir, Signer: other}); err == nil {
		t.Fatal("Open with a different signing key succeeded")
	}
	if _, err := Open(Config{Dir: cfg.Dir, Signer: testSigner, Origin: "liuhen.test/other"}); err == nil {
		t.Fatal("Open with a different origin succeeded")
	}
}

func mustKey(t testing.TB, origin string) string {
	skey, _, err := GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	return skey
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	skey := mustKey(t, testOrigin)
	p := filepath.Join(dir, "log.key")
	if err := WriteKeyFile(p, skey); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(p, skey); err == nil {
		t.Fatal("WriteKeyFile overwrote an existing key")
	}
	s, err := LoadSigner(p)
	if err != nil {
		t.Fatalf("LoadSigner(0600) = %v", err)
	}
	vkey, _ := VerifierKey(skey)
	if s.VKey != vkey || !strings.HasPrefix(vkey, testOrigin+"+") {
		t.Fatalf("VKey = %q, want %q", s.VKey, vkey)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(p); !errors.Is(err, ErrKeyPermissions) {
		t.Fatalf("LoadSigner(0644) = %v, want ErrKeyPermissions", err)
	}
}

func TestCheckpointsKeptAndConsistent(t *testing.T) {
	l := newTestLedger(t, testConfig(t, nil))
	var sizes []uint64
	for i := range 5 {
		mustAppend(t, l, rec(i, 1))
		cp, err := l.CheckpointCovering(context.Background(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, cp.Size)
	}
	for _, s := range sizes {
		cp, err := l.CheckpointAt(s)
		if err != nil {
			t.Fatalf("CheckpointAt(%d): %v", s, err)
		}
		root, _ := l.RootAt(s)
		if cp.Root != root {
			t.Fatalf("checkpoint %d root %s, tree says %s", s, Hex(cp.Root), Hex(root))
		}
		if _, err := OpenCheckpoint(cp.Note, testOrigin, l.Verifier()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckpointCovering: CheckpointCovering(s) is the first stored
// checkpoint of at least s, for every s, whether it is served from the
// checkpoints kept in memory or read back (more checkpoints than are kept,
// and again after a reopen, when none are kept).
func TestCheckpointCovering(t *testing.T) {
	cfg := testConfig(t, nil)
	l := newTestLedger(t, cfg)
	n := cpRecentMax + 20
	for i := range n {
		mustAppend(t, l, rec(i, 1)) // one commit each, a checkpoint each
		if _, err := l.CheckpointCovering(context.Background(), uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(l *Ledger) {
		t.Helper()
		for s := uint64(1); s <= uint64(n); s++ {
			got, err := l.CheckpointCovering(context.Background(), s)
			if err != nil {
				t.Fatalf("CheckpointCovering(%d): %v", s, err)
			}
			// The first stored one, read from Pebble here.
			it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: seqKey(prefixCheckpoint, s), UpperBound: []byte{prefixCheckpoint + 1}})
			if err != nil {
				t.Fatal(err)
			}
			if !it.First() {
				t.Fatalf("no checkpoint stored at or above %d", s)
			}
			want := append([]byte(nil), it.Value()...)
			it.Close()
			if !bytes.Equal(got.Note, want) {
				t.Fatalf("CheckpointCovering(%d) = size %d, want the stored %q", s, got.Size, want)
			}
			if _, err := OpenCheckpoint(got.Note, testOrigin, l.Verifier()); err != nil {
				t.Fatal(err)
			}
		}
	}
	check(l)
	l.Close()
	l2, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	check(l2)
}

// TestCheckpointInterval: with an interval, a checkpoint follows the first
// commit, the next waits out the interval, and Close does not: it signs
// the final head at once.
func TestCheckpointInterval(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.CheckpointInterval = time.Hour
	l, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, rec(0, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := l.CheckpointCovering(ctx, 1); err != nil {
		t.Fatalf("first checkpoint: %v", err)
	}
	mustAppend(t, l, rec(1, 1), rec(2, 2))
	if cp := l.Checkpoint(); cp.Size != 1 {
		t.Errorf("checkpoint size %d within the interval, want 1", cp.Size)
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Close waited out the checkpoint interval")
	}
	cfg.CheckpointInterval = 0
	l, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if cp, head := l.Checkpoint(), l.Head(); cp.Size != 3 || head.Size != 3 || cp.Root != head.Root {
		t.Errorf("after Close: checkpoint %d, head %d; want the final head signed", cp.Size, head.Size)
	}
}

func caseUUID(c int) [16]byte {
	r, err := ParseRecord(rec(0, c))
	if err != nil {
		panic(err)
	}
	return r.CaseID
}

// TestIDLookupAcrossTablesAndBatches: the sequencer reads a batch's ids in
// key order through one iterator. Ids already flushed to sstables, ids only
// in the memtable and ids repeated within the batch, in shuffled order, must
// each get the right answer.
func TestIDLookupAcrossTablesAndBatches(t *testing.T) {
	l := newTestLedger(t, testConfig(t, nil))
	var first [][]byte
	for i := range 300 {
		first = append(first, rec(i, i%5))
	}
	orig := mustAppend(t, l, first...)
	if err := l.db.Flush(); err != nil { // ids 0..299 now live in an sstable
		t.Fatal(err)
	}
	mustAppend(t, l, rec(1000, 1), rec(1001, -1)) // memtable only

	changed := func(i int) []byte { // same id as rec(i, ...), other content
		return bytes.Replace(rec(i, 2), []byte(`"n":`), []byte(`"n":-`), 1)
	}
	batch := [][]byte{rec(2000, 3), rec(299, 299%5), changed(7), rec(1001, -1), rec(0, 0), rec(2000, 3), changed(1000), rec(2001, -1), rec(150, 0)}
	want := []Status{Accepted, Duplicate, Conflict, Duplicate, Duplicate, Duplicate, Conflict, Accepted, Duplicate}
	res := mustAppend(t, l, batch...)
	for i, r := range res {
		if r.Status != want[i] {
			t.Fatalf("result %d = %v, want %v", i, r.Status, want[i])
		}
	}
	for i, j := range map[int]int{1: 299, 2: 7, 4: 0, 8: 150} {
		if res[i].Seq != orig[j].Seq || res[i].Hash != orig[j].Hash {
			t.Errorf("result %d answers seq %d, want the original seq %d and its leaf hash", i, res[i].Seq, orig[j].Seq)
		}
	}
	if res[5].Seq != res[0].Seq {
		t.Errorf("in-batch duplicate answers seq %d, want %d", res[5].Seq, res[0].Seq)
	}
	if got := l.Head().Size; got != 304 {
		t.Fatalf("size %d, want 304 (300 + 2 + 2 accepted)", got)
	}
}

// TestIndexReadsReportErrors: a case or device index that cannot be read
// must end its sequence with an error, never with a shorter list that looks
// complete.
func TestIndexReadsReportErrors(t *testing.T) {
	l := newTestLedger(t, testConfig(t, nil))
	mustAppend(t, l, rec(1, 4), rec(2, 4), rec(3, 4))
	count := func() (n int, err error) {
		seqs, seqsErr := l.CaseSeqs(caseUUID(4), 1)
		for range seqs {
			n++
		}
		return n, seqsErr()
	}
	if n, err := count(); n != 3 || err != nil {
		t.Fatalf("intact case: %d entries, %v; want 3, nil", n, err)
	}
	devs, devsErr := l.DeviceSeqs("ZFY-140500-0007", 0)
	n := 0
	for range devs {
		n++
	}
	if n != 3 || devsErr() != nil {
		t.Fatalf("intact device: %d entries, %v; want 3, nil", n, devsErr())
	}

	// Damage the second case index value and the device index's first.
	if err := l.db.Set(caseKey(caseUUID(4), 2), []byte{1, 2, 3}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := l.db.Set(deviceKey("ZFY-140500-0007", 0), []byte{9}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if n, err := count(); !errors.Is(err, ErrCorrupt) || n != 1 {
		t.Fatalf("damaged case: %d entries, %v; want 1 then ErrCorrupt", n, err)
	}
	devs, devsErr = l.DeviceSeqs("ZFY-140500-0007", 0)
	for range devs {
		t.Fatal("damaged device index yielded an entry")
	}
	if err := devsErr(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged device: %v, want ErrCorrupt", err)
	}
	// The damage is in the indexes Verify digests: it must find it too.
	if _, err := l.Verify(context.Background()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify after index damage: %v, want ErrCorrupt", err)
	}
	l.Close() // before the cleanup's Verify, which would report the damage
}

// TestReadsAfterClose: once Close has begun, every read answers ErrClosed
// (Pebble itself would panic), and Close waits for a read in progress.
func TestReadsAfterClose(t *testing.T) {
	l := newTestLedger(t, testConfig(t, nil))
	res := mustAppend(t, l, rec(1, 2), rec(2, 2), rec(3, -1))

	// An iteration in progress holds Close back until it ends.
	next, stop := iter.Pull2(l.Entries(0))
	if _, _, ok := next(); !ok {
		t.Fatal("no first entry")
	}
	closed := make(chan error)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while an iteration was open", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, b, ok := next(); !ok || len(b) == 0 {
		t.Fatal("the open iteration stopped yielding during Close")
	}
	stop()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}

	if _, err := l.EntryAt(0); !errors.Is(err, ErrClosed) {
		t.Errorf("EntryAt after Close: %v", err)
	}
	if _, err := l.SeqOf(uuid.UUID(res[0].Hash[:16])); !errors.Is(err, ErrClosed) {
		t.Errorf("SeqOf after Close: %v", err)
	}
	if _, err := l.InclusionProof(0, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("InclusionProof after Close: %v", err)
	}
	if _, err := l.Verify(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Verify after Close: %v", err)
	}
	for range l.Entries(0) {
		t.Error("Entries yielded after Close")
	}
	seqs, seqsErr := l.CaseSeqs(caseUUID(2), 1)
	for range seqs {
		t.Error("CaseSeqs yielded after Close")
	}
	if err := seqsErr(); !errors.Is(err, ErrClosed) {
		t.Errorf("CaseSeqs after Close: %v", err)
	}
	if _, err := l.PublisherCursor(); !errors.Is(err, ErrClosed) {
		t.Errorf("PublisherCursor after Close: %v", err)
	}
}
