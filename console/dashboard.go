package console

import (
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections/casefile"
)

// checkpointInfo is a signed checkpoint as the pages show it.
type checkpointInfo struct {
	Origin string
	Size   uint64
	Root   string // hex
	Time   time.Time
	Note   string
	// Witnessed is the latest checkpoint the server's witness policy
	// cosigned; nil without a policy.
	Witnessed *witnessedInfo
}

// witnessedInfo is GET /v1/checkpoint/witnessed as the dashboard shows it.
type witnessedInfo struct {
	Size    uint64
	Names   []string // the witnesses, in the note's order
	Pending bool     // a policy, but nothing cosigned yet
}

// witnessed fetches the latest witnessed checkpoint (a public endpoint):
// nil when the server has no witness policy.
func (c *Console) witnessed(r *http.Request, origin string) *witnessedInfo {
	w, err := c.call(r, nil, "/v1/checkpoint/witnessed")
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable:
		return &witnessedInfo{Pending: true}
	case err != nil:
		return nil
	}
	note := w.body.String()
	cp := parseCheckpoint(note)
	if cp == nil {
		return nil
	}
	wi := &witnessedInfo{Size: cp.Size}
	_, sigs, _ := strings.Cut(note, "\n\n")
	for line := range strings.Lines(sigs) {
		if rest, ok := strings.CutPrefix(line, "— "); ok {
			if name, _, _ := strings.Cut(rest, " "); name != origin && !slices.Contains(wi.Names, name) {
				wi.Names = append(wi.Names, name)
			}
		}
	}
	return wi
}

// parseCheckpoint reads the body of a C2SP checkpoint note (docs/format.md
// §3). It does not check the signature: the server's own note, shown for
// information; 验证 checks it in the browser.
func parseCheckpoint(note string) *checkpointInfo {
	lines := strings.SplitN(note, "\n", 4)
	if len(lines) < 3 {
		return nil
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return nil
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		return nil
	}
	return &checkpointInfo{Origin: lines[0], Size: size, Root: hex.EncodeToString(root), Note: note}
}

// checkpoint fetches the latest signed checkpoint (a public endpoint) and,
// with a ledger, the time its last entry was recorded: checkpoints carry no
// time, and one is signed right after the commit of its last entry.
func (c *Console) checkpoint(r *http.Request) *checkpointInfo {
	w, err := c.call(r, nil, "/v1/checkpoint")
	if err != nil {
		return nil
	}
	cp := parseCheckpoint(w.body.String())
	if cp != nil {
		cp.Witnessed = c.witnessed(r, cp.Origin)
	}
	if cp != nil && c.cfg.Ledger != nil && cp.Size > 0 {
		if b, err := c.cfg.Ledger.EntryAt(cp.Size - 1); err == nil {
			if e, err := ledger.DecodeEntry(b); err == nil {
				cp.Time = e.RecordedAt
			}
		}
	}
	return cp
}

type statusAnswer struct {
	Size      uint64 `json:"size"`
	Root      string `json:"root"`
	Publisher *struct {
		Position   uint64  `json:"position"`
		Lag        uint64  `json:"lag"`
		LagSeconds float64 `json:"lag_seconds"`
	} `json:"publisher"`
	Projections map[string]struct {
		Position uint64 `json:"position"`
	} `json:"projections"`
}

type projectionLag struct {
	Name     string
	Position uint64
	Lag      uint64
}

type ruleCount struct {
	Rule       string
	Name       string
	Violations int
	Warnings   int
}

type dueItem struct {
	CaseID, CaseNumber string
	casefile.Deadline
}

type stageCount struct {
	Stage string
	Count int
}

type dashboardData struct {
	Size          uint64
	Checkpoint    *checkpointInfo
	Status        *statusAnswer
	StatusNote    string
	Projections   []projectionLag
	Rules         []ruleCount
	OpenFindings  int
	FindingsNote  string
	Overview      *overview
	CasesNote     string
	DueSoon       []dueItem
	Daily         chart
	DailyNote     string
	DailyTotal    int
	DailyLatest   string // the window ends on this day, not today: nothing happened in the last 30 days
	LedgerPresent bool
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, s *session) error {
	d := dashboardData{Checkpoint: c.checkpoint(r), LedgerPresent: c.cfg.Ledger != nil}
	if d.Checkpoint != nil {
		d.Size = d.Checkpoint.Size
	}
	var st statusAnswer
	switch err := c.getJSON(r, s, "/v1/status", &st); {
	case err == nil:
		d.Status, d.Size = &st, st.Size
		for name, p := range st.Projections {
			d.Projections = append(d.Projections, projectionLag{Name: name, Position: p.Position, Lag: st.Size - min(st.Size, p.Position)})
		}
		slices.SortFunc(d.Projections, func(a, b projectionLag) int { return cmp.Compare(a.Name, b.Name) })
	case denied(err):
		d.StatusNote = "需要审计员或管理员权限。"
	default:
		d.StatusNote = "暂无数据"
	}

	fs, _, err := c.findings(r, s, url.Values{"open": {"true"}})
	switch {
	case err == nil:
		d.Rules, d.OpenFindings = countByRule(fs), len(fs)
	case denied(err):
		d.FindingsNote = "您的角色无权查看规范性检查结果。"
	default:
		d.FindingsNote = "暂无数据"
	}

	ov, err := c.overview(r, s)
	switch {
	case err == nil:
		d.Overview = ov
		now := c.cfg.Now()
		for _, x := range ov.deadlines {
			if !x.Overdue && !x.Due.Before(now) && x.Due.Before(now.Add(7*24*time.Hour)) {
				d.DueSoon = append(d.DueSoon, x)
			}
		}
	case denied(err):
		d.CasesNote = "您的角色无权查看案卷。"
	default:
		d.CasesNote = "暂无数据"
	}

	if c.index == nil {
		d.DailyNote = "暂无数据"
	} else {
		days, latest, err := c.index.perDay(c.cfg.Now(), 30)
		if err != nil {
			return err
		}
		title := "近 30 天每日执法记录（按发生时间）"
		if latest {
			title = "最近有记录的 30 天（截至 " + days[len(days)-1].Day + "）每日执法记录"
			d.DailyLatest = days[len(days)-1].Day
		}
		pts := make([]point, len(days))
		for i, x := range days {
			pts[i] = point{Label: x.Day[5:], Value: float64(x.Count), Text: strconv.Itoa(x.Count)}
			d.DailyTotal += x.Count
		}
		d.Daily = columns("daily", title, "条", pts, 5)
	}
	c.render(w, r, s, http.StatusOK, "dashboard", d)
	return nil
}

// caseScan is a scan of the whole case list: cases by stage and status,
// case numbers, and the newest open cases. It is reused while the case list
// reflects the same ledger size.
type caseScan struct {
	size      uint64 // the case list's as_of.size
	Total     int
	Open      int
	Closed    int // closed, not archived
	Archived  int
	Stages    []stageCount
	Capped    bool              // more open cases than DeadlineCases
	Truncated bool              // more cases than the scan reads
	numbers   map[string]string // case id → case number
	open      []casefile.Summary
}

// overview is the dashboard's view of the cases: the scan, and the
// deadlines of the newest open cases, which depend on the clock too.
type overview struct {
	*caseScan
	minute    int64 // the clock's minute when the deadlines were read
	Overdue   int   // open deadlines already past
	Read      int   // open cases whose deadlines were read
	deadlines []dueItem
}

// maxScanPages bounds the scan of the case list (500 a page).
const maxScanPages = 200

// scanCases scans the case list as the user of s. The first page is always
// asked with the user's token, so a cached scan is only ever shown to a
// user the API lets read the case list.
func (c *Console) scanCases(r *http.Request, s *session) (*caseScan, error) {
	var first casefile.Page
	if err := c.getJSON(r, s, "/v1/cases?limit=500", &first); err != nil {
		return nil, err
	}
	c.ovMu.Lock()
	if sc := c.scan; sc != nil && sc.size == first.AsOf.Size {
		c.ovMu.Unlock()
		return sc, nil
	}
	c.ovMu.Unlock()

	sc := &caseScan{size: first.AsOf.Size, numbers: map[string]string{}}
	stages := map[string]int{}
	page := first
	for n := 1; ; n++ {
		for _, cs := range page.Cases {
			sc.Total++
			stages[string(cs.Stage)]++
			if cs.CaseNumber != "" {
				sc.numbers[cs.CaseID] = cs.CaseNumber
			}
			switch cs.Status {
			case casefile.StatusClosed:
				sc.Closed++
			case casefile.StatusArchived:
				sc.Archived++
			}
			if cs.Status == casefile.StatusOpen {
				sc.Open++
				if len(sc.open) < c.cfg.DeadlineCases {
					sc.open = append(sc.open, cs)
				} else {
					sc.Capped = true
				}
			}
		}
		if page.Next == "" {
			break
		}
		if n == maxScanPages {
			sc.Truncated = true
			break
		}
		next := page.Next
		page = casefile.Page{}
		if err := c.getJSON(r, s, "/v1/cases?limit=500&cursor="+url.QueryEscape(next), &page); err != nil {
			return nil, err
		}
	}
	for _, st := range stageOrder {
		if n := stages[string(st)]; n > 0 {
			sc.Stages = append(sc.Stages, stageCount{string(st), n})
			delete(stages, string(st))
		}
	}
	for st, n := range stages {
		sc.Stages = append(sc.Stages, stageCount{st, n})
	}
	c.ovMu.Lock()
	c.scan = sc
	c.ovMu.Unlock()
	return sc, nil
}

func (c *Console) overview(r *http.Request, s *session) (*overview, error) {
	sc, err := c.scanCases(r, s)
	if err != nil {
		return nil, err
	}
	minute := c.cfg.Now().Unix() / 60
	c.ovMu.Lock()
	if ov := c.ov; ov != nil && ov.caseScan == sc && ov.minute == minute {
		c.ovMu.Unlock()
		return ov, nil
	}
	c.ovMu.Unlock()
	ov := &overview{caseScan: sc, minute: minute}
	for _, cs := range sc.open {
		var v casefile.View
		if err := c.getJSON(r, s, "/v1/cases/"+cs.CaseID, &v); err != nil {
			if missing(err) {
				continue
			}
			return nil, err
		}
		ov.Read++
		for _, dl := range v.Deadlines {
			if dl.Overdue {
				ov.Overdue++
			}
			ov.deadlines = append(ov.deadlines, dueItem{CaseID: cs.CaseID, CaseNumber: cs.CaseNumber, Deadline: dl})
		}
	}
	slices.SortFunc(ov.deadlines, func(a, b dueItem) int { return a.Due.Compare(b.Due) })
	c.ovMu.Lock()
	c.ov = ov
	c.ovMu.Unlock()
	return ov, nil
}

// stageOrder is the order of a case's stages (行政处罚法 Art 47 and after).
var stageOrder = []catalog.Stage{catalog.StageFiling, catalog.StageInvestigation, catalog.StageReview,
	catalog.StageDecision, catalog.StageService, catalog.StagePublicity, catalog.StageExecution,
	catalog.StageArchive, catalog.StageRemedy}
