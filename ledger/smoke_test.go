package ledger

import (
	"context"
	"fmt"
	"testing"
)

func TestSmoke(t *testing.T) {
	skey, _, err := GenerateKey("liuhen.test/smoke")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() + "/l"
	l, err := Create(Config{Dir: dir, Origin: "liuhen.test/smoke", Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for i := 0; i < 10; i++ {
		raws = append(raws, []byte(fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-2f0c8e1a4b%02d","type":"inspection.recorded","case_id":"0193f09e-1111-7000-8000-000000000042","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"ZFY-1","seq":%d},"data":{"findings":"x"}}`, i, i)))
	}
	res, err := l.Append(context.Background(), raws)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep, string(l.Checkpoint().Note))
	b, _ := l.EntryAt(3)
	t.Log(string(b))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(Config{Dir: dir, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	res, err = l.Append(context.Background(), raws[:2])
	t.Log(res, err)
	if _, err := l.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Close()
}
