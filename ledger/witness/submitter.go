package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/internal/durable"
	"github.com/liuhen/liuhen/ledger"
)

// DefaultInterval is SubmitterConfig.Interval's default.
const DefaultInterval = 5 * time.Second

// SubmitterConfig configures a Submitter.
type SubmitterConfig struct {
	// Ledger is the log whose checkpoints are witnessed. Required.
	Ledger *ledger.Ledger
	// Policy is the witness policy (the Sigsum policy format of
	// transparency-dev/formats/witness.ParsePolicy: witness lines with
	// cosignature/v1 vkeys and URLs, groups, a quorum). Required.
	Policy []byte
	// Path is the file that keeps the latest witnessed checkpoint across
	// restarts. Required.
	Path string
	// Interval is the least time between two rounds. Default
	// DefaultInterval.
	Interval time.Duration
	// Client sends the requests. Default: a client with a 30 s timeout.
	Client *http.Client
	// Logger receives failures. Default slog.Default().
	Logger *slog.Logger
}

// A Submitter sends the ledger's latest checkpoint, at most once per
// Interval, to every witness of the policy, with a consistency proof from
// the size each witness last cosigned, and keeps the latest checkpoint
// whose cosignatures satisfy the policy (Witnessed).
type Submitter struct {
	cfg    SubmitterConfig
	policy fwitness.Group

	latest atomic.Pointer[[]byte] // the latest witnessed checkpoint note

	mu    sync.Mutex
	sizes map[string]uint64 // per witness URL: the size it cosigned last; guarded by mu

	partialWarned time.Time // when Round last logged witnesses that did not cosign
}

// NewSubmitter parses the policy and loads the checkpoint kept at Path, if
// it is one of this ledger's and satisfies the policy.
func NewSubmitter(cfg SubmitterConfig) (*Submitter, error) {
	if cfg.Ledger == nil || cfg.Path == "" {
		return nil, errors.New("witness: SubmitterConfig.Ledger and Path are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p, err := fwitness.ParsePolicy(cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("witness: policy: %w", err)
	}
	if len(p.Endpoints()) == 0 {
		return nil, errors.New("witness: the policy names no witness")
	}
	s := &Submitter{cfg: cfg, policy: p, sizes: map[string]uint64{}}
	if b, err := os.ReadFile(cfg.Path); err == nil {
		if err := s.check(b); err != nil {
			cfg.Logger.Warn("witness: ignoring the kept witnessed checkpoint", "path", cfg.Path, "err", err)
		} else {
			s.latest.Store(&b)
		}
	}
	return s, nil
}

// check accepts a cosigned checkpoint of this ledger that satisfies the
// policy.
func (s *Submitter) check(b []byte) error {
	l := s.cfg.Ledger
	cp, err := ledger.OpenCheckpoint(b, l.Origin(), l.Verifier())
	if err != nil {
		return err
	}
	if root, err := l.RootAt(cp.Size); err != nil || root != cp.Root {
		return fmt.Errorf("not this ledger's checkpoint of size %d", cp.Size)
	}
	if !s.policy.Satisfied(b) {
		return errors.New("its cosignatures do not satisfy the policy")
	}
	return nil
}

// Witnessed returns the latest checkpoint cosigned by a quorum of the
// policy's witnesses: the log's signed note followed by the witnesses'
// cosignature lines; nil before the first.
func (s *Submitter) Witnessed() []byte {
	if p := s.latest.Load(); p != nil {
		return *p
	}
	return nil
}

// Run submits checkpoints until ctx is done.
func (s *Submitter) Run(ctx context.Context) error {
	l := s.cfg.Ledger
	var done uint64
	var failing bool
	var warned time.Time
	for {
		wait := l.WaitCheckpoint()
		if cp := l.Checkpoint(); cp != nil && (cp.Size > done || s.Witnessed() == nil) {
			if err := s.Round(ctx, cp); err == nil {
				done = cp.Size
				if failing {
					s.cfg.Logger.Info("witness: checkpoints witnessed again", "size", cp.Size)
				}
				failing = false
			} else if ctx.Err() == nil {
				// Once when it starts failing, then at most once a minute.
				if !failing || time.Since(warned) > time.Minute {
					s.cfg.Logger.Warn("witness: checkpoint not witnessed", "size", cp.Size, "err", err)
					warned = time.Now()
				}
				failing = true
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(s.cfg.Interval):
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wait:
		}
	}
}

// Round sends cp to every witness of the policy and, if their
// cosignatures satisfy it, keeps the cosigned checkpoint. Rounds must not
// run concurrently (Run runs one at a time).
func (s *Submitter) Round(ctx context.Context, cp *ledger.Checkpoint) error {
	endpoints := s.policy.Endpoints()
	urls := slices.Sorted(maps.Keys(endpoints))
	sigs := make([][]byte, len(urls))
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() { sigs[i], errs[i] = s.submit(ctx, u, endpoints[u], cp) })
	}
	wg.Wait()
	cosigned := bytes.Clone(cp.Note)
	for _, sig := range sigs {
		cosigned = append(cosigned, sig...)
	}
	if !s.policy.Satisfied(cosigned) {
		return fmt.Errorf("the policy is not satisfied: %w", errors.Join(errs...))
	}
	if err := durable.WriteFile(s.cfg.Path, cosigned, 0o644); err != nil {
		return err
	}
	s.latest.Store(&cosigned)
	if err := errors.Join(errs...); err != nil && time.Since(s.partialWarned) > time.Minute {
		s.cfg.Logger.Warn("witness: some witnesses did not cosign (the policy is satisfied without them)", "size", cp.Size, "err", err)
		s.partialWarned = time.Now()
	}
	return nil
}

// submit sends cp to one witness and returns its checked cosignature
// lines.
func (s *Submitter) submit(ctx context.Context, url string, v note.Verifier, cp *ledger.Checkpoint) ([]byte, error) {
	s.mu.Lock()
	old := s.sizes[url]
	s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if old > cp.Size {
			return nil, fmt.Errorf("%s: the witness has cosigned size %d, beyond this checkpoint's %d", url, old, cp.Size)
		}
		var hashes [][]byte
		if old > 0 && old < cp.Size {
			p, err := s.cfg.Ledger.ConsistencyProof(old, cp.Size)
			if err != nil {
				return nil, err
			}
			for _, h := range p {
				hashes = append(hashes, bytes.Clone(h[:]))
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(FormatRequest(old, hashes, cp.Note)))
		if err != nil {
			return nil, err
		}
		resp, err := s.cfg.Client.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxRequest))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusConflict && attempt == 0:
			n, err := strconv.ParseUint(strings.TrimSpace(string(body)), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: 409 without a size", url)
			}
			old = n
			continue
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		if _, err := note.Open(append(bytes.Clone(cp.Note), body...), note.VerifierList(v)); err != nil {
			return nil, fmt.Errorf("%s: the cosignature does not verify: %w", url, err)
		}
		s.mu.Lock()
		s.sizes[url] = cp.Size
		s.mu.Unlock()
		return body, nil
	}
}
