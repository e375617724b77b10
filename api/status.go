package api

import (
	"net/http"

	"github.com/liuhen/liuhen/ledger"
)

type statusAnswer struct {
	Size        uint64                    `json:"size"`
	Root        string                    `json:"root"`
	Checkpoint  string                    `json:"checkpoint"` // the latest signed checkpoint note
	Publisher   *publisherAnswer          `json:"publisher,omitempty"`
	Projections map[string]positionAnswer `json:"projections"`
}

type publisherAnswer struct {
	Position   uint64  `json:"position"`
	Lag        uint64  `json:"lag"` // entries not yet published
	LagSeconds float64 `json:"lag_seconds"`
}

type positionAnswer struct {
	Position uint64 `json:"position"`
}

// status is GET /v1/status. A position counts the entries handled, so it
// equals size when caught up. publisher is absent when no relay runs.
func (s *Server) status(w http.ResponseWriter, r *http.Request, _ *Token) error {
	h := s.l.Head()
	ans := statusAnswer{Size: h.Size, Root: ledger.Hex(h.Root), Projections: map[string]positionAnswer{}}
	if cp := s.l.Checkpoint(); cp != nil {
		ans.Checkpoint = string(cp.Note)
	}
	if p := s.cfg.Publisher; p != nil {
		pos, lag, sec := p.Status()
		ans.Publisher = &publisherAnswer{pos, lag, sec}
	}
	if p := s.cfg.Projections; p != nil {
		for name, pos := range p.Positions() {
			ans.Projections[name] = positionAnswer{pos}
		}
	}
	return writeJSON(w, http.StatusOK, ans)
}

// healthz is GET /healthz: the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *Token) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is GET /readyz: 200 while the ledger accepts appends and the
// server is not draining, 503 otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *Token) error {
	if s.drain.Load() {
		return problem(CodeUnavailable, "shutting down")
	}
	if err := s.l.Err(); err != nil {
		return problem(CodeUnavailable, err.Error())
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
