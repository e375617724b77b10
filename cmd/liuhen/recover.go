package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
)

func init() {
	commands["recover"] = command{"append to a ledger restored from a backup the later entries its JetStream stream still holds", runRecover}
}

const recoverUsage = `
usage: liuhen recover [--data DIR] [--key FILE] [--nats URL [--nats-creds FILE] [--nats-tls-* FILE]]

For a stopped server whose ledger is behind its JetStream streams: the
ledger was restored from an older backup, and the streams (the embedded
server's under DIR/nats, or an external cluster's with --nats) kept the
entries acknowledged since. liuhen serve refuses to start on such a
directory ("the stream holds N entries, the ledger only M"), because an
append would fork the log at a seq that was already published.

recover reads the missing entries from the events stream and appends them
byte for byte. Each must be exactly the entry the ledger would write at its
place (seq, prev, case_seq, case_prev, recorded_at order, a new id), so
nothing is written that the ledger cannot check; the first entry that does
not fit stops recover, named, with the entries before it kept. Then it
stores the checkpoints the relay had published for sizes the ledger now
holds, each checked against the ledger's key and its root at that size.
It never writes to NATS. Afterwards, start liuhen serve and run liuhen verify. See
docs/operations.md.
`

// recoverFlags are the flags recover and restore share: the data
// directory, the signing key and how to reach the streams.
type recoverFlags struct {
	data, keyFile string
	cc            natsrv.ConnectConfig
}

func addRecoverFlags(fs *flag.FlagSet) *recoverFlags {
	f := &recoverFlags{}
	fs.StringVar(&f.data, "data", "./data", "the stopped server's data `directory`")
	fs.StringVar(&f.keyFile, "key", "", "checkpoint signing key `file` (default DATA/signing.key)")
	fs.StringVar(&f.cc.URL, "nats", "", "`URL` of the external NATS server or cluster serve used (default: the embedded server's store under DATA/nats)")
	fs.StringVar(&f.cc.CredsFile, "nats-creds", "", "NATS credentials `file` (with -nats)")
	fs.StringVar(&f.cc.TLSCA, "nats-tls-ca", "", "CA certificate `file` for the NATS connection (with -nats)")
	fs.StringVar(&f.cc.TLSCert, "nats-tls-cert", "", "client certificate `file` for the NATS connection (with -nats)")
	fs.StringVar(&f.cc.TLSKey, "nats-tls-key", "", "client key `file` for the NATS connection (with -nats)")
	return f
}

// signer loads the signing key.
func (f *recoverFlags) signer() (*ledger.Signer, error) {
	keyPath := f.keyFile
	if keyPath == "" {
		keyPath = filepath.Join(f.data, signingKeyFile)
	}
	signer, err := ledger.LoadSigner(keyPath)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return signer, nil
}

func runRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	f := addRecoverFlags(fs)
	usageFunc(fs, stderr, recoverUsage)
	if err := parseFlags(fs, args, 0); err != nil {
		return helpOK(err)
	}
	return recoverStreams(ctx, f, stdout, stderr)
}

// recoverStreams is liuhen recover.
func recoverStreams(ctx context.Context, f *recoverFlags, stdout, stderr io.Writer) error {
	data, cc := f.data, f.cc
	dir := filepath.Join(data, ledgerDir)
	if !hasFiles(dir) {
		return fmt.Errorf("no ledger in %s", dir)
	}
	signer, err := f.signer()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := ledger.Open(ledger.Config{Dir: dir, Signer: signer, Logger: log})
	if err != nil {
		return err
	}
	defer l.Close()

	var nc *nats.Conn
	if cc.URL == "" {
		s, err := natsrv.Embed(natsrv.EmbedConfig{StoreDir: filepath.Join(data, natsDir)})
		if err != nil {
			return fmt.Errorf("nats: %w", err)
		}
		defer s.Shutdown()
		if nc, err = natsrv.ConnectEmbedded(s); err != nil {
			return fmt.Errorf("nats: %w", err)
		}
	} else {
		cc.Name = "liuhen recover " + l.Origin()
		if nc, err = natsrv.Connect(cc); err != nil {
			return fmt.Errorf("nats: %w", err)
		}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	r := recovery{l: l, js: js, layout: natsrv.NewLayout(l.Origin())}
	from := l.Head().Size
	// The stream's checkpoints up to the relay's cursor were signed before
	// the backup, so the ledger has them; later ones are checked. The
	// ledger's latest checkpoint is no bound: it signs its own as entries
	// come in, and a recover interrupted after the entries must still
	// store the relay's checkpoints between. So the cursor moves last.
	cur, err := l.PublisherCursor()
	if err != nil {
		return err
	}
	var had uint64
	if cp := l.Checkpoint(); cp != nil {
		had = min(cp.Size, cur)
	}
	n, err := r.entries(ctx)
	if err != nil {
		return err
	}
	checked, added, lastCP, err := r.checkpoints(ctx, had)
	if err != nil {
		return err
	}
	if h := l.Head().Size; r.streamSize == h && cur < h {
		// The stream holds exactly the ledger's entries: the relay need
		// not read them back to compare them when serve starts.
		if err := l.SetPublisherCursor(h); err != nil {
			return err
		}
	}
	h := l.Head()
	if n == 0 && added == 0 && r.noStream {
		fmt.Fprintf(stdout, "liuhen recover: nothing to recover: no stream %s (the server publishes the ledger's %d entries into a new one when it starts)\n", r.layout.Events, h.Size)
		return nil
	}
	if n == 0 && added == 0 {
		fmt.Fprintf(stdout, "liuhen recover: nothing to recover: the ledger holds %d entries, as many as stream %s\n", h.Size, r.layout.Events)
		return nil
	}
	fmt.Fprintf(stdout, "liuhen recover: appended entries [%d, %d) from stream %s; checked the %d checkpoints of %s since size %d against the ledger (%d stored anew)\n",
		from, h.Size, r.layout.Events, checked, r.layout.Checkpoints, had, added)
	fmt.Fprintf(stdout, "  the ledger now holds %d entries, root %s\n", h.Size, hex.EncodeToString(h.Root[:]))
	if lastCP < h.Size {
		fmt.Fprintf(stdout, "  the relay's last published checkpoint is of size %d: entries [%d, %d) were covered by no signature before this recovery\n", lastCP, lastCP, h.Size)
	}
	fmt.Fprintln(stdout, "  start liuhen serve, then run liuhen verify")
	return nil
}

// recovery reads a ledger's streams into it.
type recovery struct {
	l          *ledger.Ledger
	js         jetstream.JetStream
	layout     natsrv.Layout
	streamSize uint64 // entries in the events stream, as entries found it
	noStream   bool   // entries found no events stream
}

// restoreBatch is how many entries recover appends in one Restore.
const restoreBatch = 1000

// entries appends the entries the events stream holds beyond the ledger's
// head, and returns how many.
func (r *recovery) entries(ctx context.Context) (int, error) {
	s, err := r.js.Stream(ctx, r.layout.Events)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		r.noStream = true
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", r.layout.Events, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", r.layout.Events, err)
	}
	head := r.l.Head().Size
	last := info.State.LastSeq // stream sequence = seq + 1
	r.streamSize = last
	if last <= head {
		return 0, nil
	}
	if head > 0 {
		// The stream must be this ledger's history up to its head; Restore
		// checks the links from there on.
		m, err := s.GetMsg(ctx, head)
		if err != nil {
			return 0, fmt.Errorf("stream %s: entry %d: %w", r.layout.Events, head-1, err)
		}
		mine, err := r.l.EntryAt(head - 1)
		if err != nil {
			return 0, err
		}
		if !bytes.Equal(m.Data, mine) {
			return 0, fmt.Errorf("stream %s holds another entry %d than the ledger: it is not this ledger's history, and nothing was recovered from it", r.layout.Events, head-1)
		}
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: head + 1})
	if err != nil {
		return 0, err
	}
	done := 0
	batch := make([][]byte, 0, restoreBatch)
	flush := func() error {
		if err := r.l.Restore(ctx, batch); err != nil {
			return fmt.Errorf("%w (entries [%d, %d) recovered before it are kept)", err, head, head+uint64(done))
		}
		done += len(batch)
		batch = batch[:0]
		return nil
	}
	for want := head + 1; want <= last; {
		msgs, err := c.Fetch(min(restoreBatch, int(last-want+1)))
		if err != nil {
			return done, err
		}
		for m := range msgs.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				return done, err
			}
			if meta.Sequence.Stream != want {
				return done, fmt.Errorf("stream %s: read stream sequence %d, want %d", r.layout.Events, meta.Sequence.Stream, want)
			}
			batch = append(batch, bytes.Clone(m.Data()))
			want++
			if len(batch) == restoreBatch {
				if err := flush(); err != nil {
					return done, err
				}
			}
		}
		if err := msgs.Error(); err != nil {
			return done, err
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return done, err
		}
	}
	return done, nil
}

// checkpoints stores the checkpoints the checkpoints stream holds beyond size
// had (each checked by AddCheckpoints), and returns how many it checked, how
// many of those the ledger did not hold yet and the size of the stream's
// last.
func (r *recovery) checkpoints(ctx context.Context, had uint64) (checked, added int, lastSize uint64, err error) {
	s, err := r.js.Stream(ctx, r.layout.Checkpoints)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, 0, 0, nil
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("stream %s: %w", r.layout.Checkpoints, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("stream %s: %w", r.layout.Checkpoints, err)
	}
	last := info.State.LastSeq
	if last == 0 {
		return 0, 0, 0, nil
	}
	size := func(seq uint64) (uint64, error) { // the size of checkpoint message seq
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			return 0, fmt.Errorf("stream %s: message %d: %w", r.layout.Checkpoints, seq, err)
		}
		cp, err := ledger.OpenCheckpoint(m.Data, r.l.Origin(), r.l.Verifier())
		if err != nil {
			return 0, fmt.Errorf("stream %s: message %d is not a checkpoint of this ledger: %w", r.layout.Checkpoints, seq, err)
		}
		return cp.Size, nil
	}
	// The stream holds checkpoints in size order: find the first one
	// beyond what the ledger had before, by bisection.
	lastSize, err = size(last)
	if err != nil {
		return 0, 0, 0, err
	}
	lo, hi := info.State.FirstSeq, last+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		sz, err := size(mid)
		if err != nil {
			return 0, 0, 0, err
		}
		if sz <= had {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	var notes [][]byte
	for seq := lo; seq <= last; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			return checked, added, 0, fmt.Errorf("stream %s: message %d: %w", r.layout.Checkpoints, seq, err)
		}
		notes = append(notes, m.Data)
		if len(notes) == restoreBatch || seq == last {
			n, err := r.l.AddCheckpoints(notes...)
			if err != nil {
				return checked, added, 0, err
			}
			checked += len(notes)
			added += n
			notes = notes[:0]
		}
	}
	return checked, added, lastSize, nil
}
