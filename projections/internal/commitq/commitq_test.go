package commitq

import (
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestCommitsInOrder(t *testing.T) {
	db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var q Queue
	var done []int // appended by the commits, one at a time
	for i := range 100 {
		b := db.NewBatch()
		if err := b.Set([]byte("k"), []byte(strconv.Itoa(i)), nil); err != nil {
			t.Fatal(err)
		}
		if err := b.Set([]byte("k"+strconv.Itoa(i)), nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := q.Commit(b, pebble.NoSync, func() { done = append(done, i) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Wait(); err != nil {
		t.Fatal(err)
	}
	want := make([]int, 100)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(done, want) {
		t.Fatalf("commits ran after hooks %v, want 0..99 in order", done)
	}
	v, c, err := db.Get([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if string(v) != "99" {
		t.Fatalf("k = %q after the last commit, want 99", v)
	}
	if err := q.Wait(); err != nil {
		t.Fatalf("Wait with nothing in flight = %v", err)
	}
}

func TestCommitError(t *testing.T) {
	fs := vfs.NewMem()
	db, err := pebble.Open("db", &pebble.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro, err := pebble.Open("db", &pebble.Options{FS: fs, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var q Queue
	ran := false
	b := ro.NewBatch()
	b.Set([]byte("k"), nil, nil)
	if err := q.Commit(b, pebble.Sync, func() { ran = true }); err != nil {
		t.Fatalf("Commit = %v; the error belongs to the commit, reported later", err)
	}
	b2 := ro.NewBatch()
	b2.Set([]byte("k2"), nil, nil)
	if err := q.Commit(b2, pebble.Sync, func() { ran = true }); !errors.Is(err, pebble.ErrReadOnly) {
		t.Fatalf("Commit after a failed commit = %v, want %v", err, pebble.ErrReadOnly)
	}
	if ran {
		t.Fatal("after ran for a batch that was not committed")
	}
	if err := q.Wait(); err != nil {
		t.Fatalf("Wait after the error was reported = %v", err)
	}
}
