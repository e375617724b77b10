package compliance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/internal/jsonview"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/compliance"
	"github.com/liuhen/liuhen/projections/internal/feed"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/report"
)

// cst is the zone scripts write times in.
var cst = time.FixedZone("CST", 8*3600)

// clockLedger is a ledger on an in-memory filesystem whose recorded_at is
// set before each append.
type clockLedger struct {
	*ledger.Ledger
	mu    sync.Mutex
	clock time.Time
}

func newLedger(tb testing.TB) *clockLedger {
	tb.Helper()
	cl := openLedger(tb)
	tb.Cleanup(func() { cl.Close() })
	return cl
}

// openLedger is newLedger without closing it when tb ends.
func openLedger(tb testing.TB) *clockLedger { return createLedger(tb, "ledger", vfs.NewMem()) }

// createLedger creates a ledger in dir on fs.
func createLedger(tb testing.TB, dir string, fs vfs.FS) *clockLedger {
	tb.Helper()
	skey, _, err := ledger.GenerateKey("liuhen.test/compliance")
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	cl := &clockLedger{clock: time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)}
	l, err := ledger.Create(ledger.Config{Dir: dir, FS: fs, Origin: "liuhen.test/compliance", Signer: signer,
		Now: func() time.Time { cl.mu.Lock(); defer cl.mu.Unlock(); return cl.clock }})
	if err != nil {
		tb.Fatal(err)
	}
	cl.Ledger = l
	return cl
}

// append appends one record with recorded_at = at; it returns its seq.
func (cl *clockLedger) append(tb testing.TB, raw []byte, at time.Time) uint64 {
	tb.Helper()
	cl.mu.Lock()
	cl.clock = at
	cl.mu.Unlock()
	res, err := cl.Append(context.Background(), [][]byte{raw})
	if err != nil {
		tb.Fatal(err)
	}
	if res[0].Status != ledger.Accepted {
		tb.Fatalf("Append(%s) = %v %v", raw, res[0].Status, res[0].Err)
	}
	return res[0].Seq
}

// engine is a store of case files, the report and the compliance
// projection, fed from a ledger.
type engine struct {
	p    *compliance.Projection
	st   *projections.Store
	mu   sync.Mutex
	at   time.Time       // the engine's clock
	ctx  context.Context // done when the runtime stops
	fail func() error    // the runtime's error once it stopped
}

func (en *engine) now() time.Time { en.mu.Lock(); defer en.mu.Unlock(); return en.at }

func (en *engine) setNow(t time.Time) { en.mu.Lock(); en.at = t; en.mu.Unlock() }

func newEngine(tb testing.TB, l *ledger.Ledger, params compliance.Params, batch int, configure ...func(*projections.Config)) *engine {
	tb.Helper()
	en := &engine{}
	p, err := compliance.New(compliance.Config{Params: params, Now: en.now})
	if err != nil {
		tb.Fatal(err)
	}
	compliance.VerifyPartial(p)
	en.p = p
	rt := projtest.Runtime(tb, l, tb.TempDir(), feed.Options{BatchSize: batch}, configure...)
	en.st, err = rt.Register("read", casefile.New(), report.New(report.Config{Calendar: compliance.DefaultCalendar()}), p)
	if err != nil {
		tb.Fatal(err)
	}
	// Like projtest.Start, but a runtime that stops on an error (a
	// projection failing) ends waits at once with that error.
	ctx, cancel := context.WithCancel(context.Background())
	stopped, stop := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{})
	go func() {
		runErr = rt.Run(ctx)
		stop()
		close(done)
	}()
	en.ctx, en.fail = stopped, func() error { <-done; return runErr }
	tb.Cleanup(func() {
		cancel()
		<-done
		if runErr != nil {
			tb.Errorf("Runtime.Run: %v", runErr)
		}
		rt.Close()
	})
	en.wait(tb, l.Head().Size)
	return en
}

func (en *engine) wait(tb testing.TB, size uint64) {
	tb.Helper()
	if err := en.st.Wait(en.ctx, size); err != nil {
		tb.Fatalf("the store stopped: %v", en.fail())
	}
}

// all lists every finding visible at now, following cursors in pages of 7.
func (en *engine) all(tb testing.TB, f compliance.Filter, now time.Time) []projections.Finding {
	tb.Helper()
	sn, err := en.st.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	defer sn.Close()
	var out []projections.Finding
	cursor := ""
	for {
		p, err := en.p.List(sn, f, now, 7, cursor)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p.Findings...)
		if p.Next == "" {
			return out
		}
		cursor = p.Next
	}
}

// dump returns the compliance keys of the store.
func (en *engine) dump(tb testing.TB) map[string]string {
	tb.Helper()
	sn, err := en.st.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	defer sn.Close()
	it, err := sn.NewIter(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer it.Close()
	m := map[string]string{}
	for ok := it.SeekGE([]byte("cm/")); ok && bytes.HasPrefix(it.Key(), []byte("cm/")); ok = it.Next() {
		m[string(it.Key())] = string(it.Value())
	}
	return m
}

// A script is a file of scenarios (testdata/rules/*.txt):
//
//	# comment
//	params {"decision_90d": {"warn_days": 80}}     (optional, before the first scenario)
//	only <rule> …                                  (optional: disable the other rules)
//	scenario <title>                               a new case A (and B), device and numbering
//	<date> <HH:MM> <type> [key=value …]            a record of case A, occurred_at in +08:00
//	now <date> [HH:MM]                             the findings of the scenario at that time:
//	  <rule>/<check> <severity> <open|closed> [due=<date>] [actual=<date>] [surcharge=<fen>] @n[,@m]
//	  none
//
// key=value sets a data field (value is JSON if it parses, else a string;
// a.b=v sets a nested field); the catalogue's required fields get defaults.
// value ~ deletes a default field; value @n is the seq of the n-th record.
// Special keys: @case=B|- (another case, or none), @officers=N|dup, @nocert=1
// (the last officer has no 执法证号), @recorded=+30h
// (recorded_at after occurred_at; default +5m), @seq=N (device seq; default
// the next), @device=ID, @media=video (an untimed video of the act),
// @name=r (name the record), link=r (recording.linked to record r),
// span=HH:MM-HH:MM and gap=HH:MM-HH:MM (recording.made). @n in the
// expectations is the n-th record of the scenario.
type script struct {
	t      *testing.T
	l      *clockLedger
	en     *engine
	params compliance.Params

	// per scenario
	title    string
	cases    map[string]uuid.UUID
	device   string
	devSeq   int64
	nRec     int
	seqs     []uint64          // of the scenario's records
	names    map[string]string // record name → id
	lastDoc  string
	nDoc     int
	total    int  // records of the script
	recMedia bool // the record needs a media item
}

func runScript(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var params compliance.Params
	type scenario struct {
		title string
		first int      // line number of the title
		lines []string // the scenario's lines
	}
	var scens []scenario
	for i, line := range strings.Split(string(b), "\n") {
		if c := strings.Index(line, " #"); c >= 0 {
			line = line[:c]
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			if len(scens) > 0 {
				scens[len(scens)-1].lines = append(scens[len(scens)-1].lines, "")
			}
		case len(scens) == 0 && strings.HasPrefix(line, "params "):
			if params, err = compliance.ParseParams([]byte(strings.TrimPrefix(line, "params "))); err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
		case len(scens) == 0 && strings.HasPrefix(line, "only "):
			only := strings.Fields(strings.TrimPrefix(line, "only "))
			for _, r := range compliance.Rules() {
				if !slices.Contains(only, r.ID) {
					params.Disabled = append(params.Disabled, r.ID)
				}
			}
		case strings.HasPrefix(line, "scenario "):
			scens = append(scens, scenario{title: strings.TrimPrefix(line, "scenario "), first: i + 1})
		case len(scens) == 0:
			t.Fatalf("%s:%d: %q before the first scenario", path, i+1, line)
		default:
			scens[len(scens)-1].lines = append(scens[len(scens)-1].lines, line)
		}
	}
	for n, sc := range scens {
		t.Run(sc.title, func(t *testing.T) {
			s := &script{t: t, l: newLedger(t), params: params}
			s.en = newEngine(t, s.l.Ledger, params, 3, tinyMemTable)
			s.begin(n+1, sc.title)
			lines := sc.lines
			for i := 0; i < len(lines); i++ {
				line := lines[i]
				if line == "" {
					continue
				}
				where := fmt.Sprintf("%s: scenario at line %d", filepath.Base(path), sc.first)
				if rest, ok := strings.CutPrefix(line, "now "); ok {
					now := s.parseNow(where, rest)
					var want []string
					for i+1 < len(lines) && lines[i+1] != "" && !strings.HasPrefix(lines[i+1], "now ") && !startsWithDate(lines[i+1]) {
						i++
						if lines[i] != "none" {
							want = append(want, strings.Join(strings.Fields(lines[i]), " "))
						}
					}
					s.check(where, now, want)
					continue
				}
				s.record(where, line)
			}
			// A rebuild from scratch, in one batch, equals the store fed
			// entry by entry while the ledger grew.
			fresh := newEngine(t, s.l.Ledger, params, 1000)
			if a, b := s.en.dump(t), fresh.dump(t); !mapsEqual(a, b) {
				t.Errorf("rebuilt compliance keys differ from incremental (%d vs %d keys)", len(a), len(b))
				for k, v := range a {
					if b[k] != v {
						t.Errorf("key %q:\n incremental %s\n rebuilt     %s", k, v, b[k])
						break
					}
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func startsWithDate(s string) bool {
	_, err := time.Parse(time.DateOnly, strings.SplitN(s, " ", 2)[0])
	return err == nil
}

func (s *script) begin(n int, title string) {
	s.title = title
	s.cases = map[string]uuid.UUID{
		"A": uuid.MustParse(fmt.Sprintf("0193f09e-1111-7000-8000-%08da00a", n)),
		"B": uuid.MustParse(fmt.Sprintf("0193f09e-1111-7000-8000-%08db00b", n)),
	}
	s.device = fmt.Sprintf("ZFY-%04d", n)
	s.devSeq, s.nRec, s.seqs, s.names, s.lastDoc, s.nDoc = 0, 0, nil, map[string]string{}, "", 0
}

func (s *script) parseNow(where, v string) time.Time {
	layout := "2006-01-02 15:04"
	if !strings.Contains(v, " ") {
		v += " 12:00"
	}
	t, err := time.ParseInLocation(layout, v, cst)
	if err != nil {
		s.t.Fatalf("%s: now %q: %v", where, v, err)
	}
	return t
}

func (s *script) newID() string {
	s.total++
	return fmt.Sprintf("0193f0a2-7c1e-7b3a-9d55-%012d", s.total)
}

// name returns the id of the record named n, reserving one if the record
// comes later.
func (s *script) name(n string) string {
	if id, ok := s.names[n]; ok {
		return id
	}
	s.names[n] = s.newID()
	return s.names[n]
}

var officerPool = []map[string]any{
	{"id": "O-0012", "cert_no": "14050020190012", "name": "王某"},
	{"id": "O-0031", "cert_no": "14050020190031", "name": "李某"},
	{"id": "O-0044", "cert_no": "14050020190044", "name": "赵某"},
}

// defaults are the catalogue's required data fields, filled in for scripts.
func (s *script) defaults(typ string, at time.Time) map[string]any {
	date := func(days int) string { return at.AddDate(0, 0, days).Format(time.DateOnly) }
	switch typ {
	case "case.registered":
		return map[string]any{"source": "patrol", "summary": "巡查发现"}
	case "case.opened":
		return map[string]any{"case_number": "测试立字第1号", "procedure": "general", "category": "street_vending",
			"parties": []any{map[string]any{"kind": "person", "name": "张三", "id_number": "140502198001011234"}}, "approved_by": "O-0001"}
	case "inspection.recorded":
		return map[string]any{"findings": "现场检查"}
	case "inquiry.recorded":
		return map[string]any{"person": "张三"}
	case "evidence.collected":
		return map[string]any{"kind": "photo", "description": "现场照片"}
	case "evidence.preserved":
		return map[string]any{"items": []any{"三轮车"}, "approved_by": "O-0001"}
	case "evidence.preservation_resolved":
		return map[string]any{"outcome": "退还"}
	case "measure.imposed":
		return map[string]any{"kind": "seize", "items": []any{"三轮车"}, "term_days": 30, "emergency": false, "approved_by": "O-0001"}
	case "measure.extended", "case.extended":
		return map[string]any{"extra_days": 30, "approved_by": "O-0001", "reason": "案情复杂"}
	case "measure.released":
		return map[string]any{"reason": "期限届满"}
	case "order.issued":
		return map[string]any{"deadline": date(7)}
	case "investigation.concluded":
		return map[string]any{"summary": "调查终结"}
	case "review.completed":
		return map[string]any{"reviewer": "O-0088", "result": "approved"}
	case "discussion.held":
		return map[string]any{"attendees": []any{"O-0001", "O-0002"}, "conclusion": "同意"}
	case "notice.served":
		return map[string]any{"intended": map[string]any{"penalties": []any{"fine"}, "fine_fen": 100000}, "hearing_right": false, "method": "direct"}
	case "statement.recorded":
		return map[string]any{"summary": "陈述申辩"}
	case "hearing.notified":
		return map[string]any{"hearing_at": at.AddDate(0, 0, 10).Format(time.RFC3339)}
	case "hearing.held":
		return map[string]any{"chair": "O-0090"}
	case "decision.made":
		s.nDoc++
		s.lastDoc = fmt.Sprintf("测试罚字第%d号", s.nDoc)
		return map[string]any{"outcome": "penalty", "penalties": []any{"fine"}, "fine_fen": 100000,
			"legal_basis": []any{"《城市市容和环境卫生管理条例》第三十六条"}, "document_no": s.lastDoc, "major": false}
	case "document.served":
		return map[string]any{"document": "decision", "method": "direct", "recipient": "张三"}
	case "decision.published":
		return map[string]any{"document_no": s.lastDoc, "channel": "门户网站"}
	case "publication.withdrawn":
		return map[string]any{"reason": "决定被撤销"}
	case "payment.received":
		return map[string]any{"amount_fen": 100000, "receipt_no": "R1"}
	case "payment.deferred":
		return map[string]any{"until": date(30), "approved_by": "O-0001"}
	case "reminder.served":
		return map[string]any{"deadline": date(10)}
	case "enforcement.applied":
		return map[string]any{"court": "城区人民法院"}
	case "enforcement.ruled":
		return map[string]any{"result": "granted"}
	case "enforcement.executed":
		return map[string]any{"kind": "强制拆除", "emergency": false}
	case "case.closed":
		return map[string]any{"reason": "执行完毕"}
	case "case.archived":
		return map[string]any{"archive_no": "20200001", "retention": "30y"}
	case "reconsideration.filed":
		return map[string]any{"body": "市人民政府"}
	case "reconsideration.decided":
		return map[string]any{"result": "upheld"}
	case "lawsuit.filed":
		return map[string]any{"court": "城区人民法院"}
	case "lawsuit.heard":
		return map[string]any{"responsible_person_appeared": true, "appeared": "局长"}
	case "lawsuit.judged":
		return map[string]any{"result": "upheld"}
	case "recording.made":
		s.recMedia = true
		return map[string]any{"started_at": at.Format(time.RFC3339), "ended_at": at.Add(time.Hour).Format(time.RFC3339), "interruptions": []any{}}
	case "device.clock_observed":
		return map[string]any{"device_time": at.Format(time.RFC3339), "server_time": at.Format(time.RFC3339), "offset_ms": 0}
	}
	return map[string]any{}
}

func (s *script) record(where, line string) {
	f := strings.Fields(line)
	if len(f) < 3 {
		s.t.Fatalf("%s: bad line %q", where, line)
	}
	at, err := time.ParseInLocation("2006-01-02 15:04", f[0]+" "+f[1], cst)
	if err != nil {
		s.t.Fatalf("%s: %v", where, err)
	}
	typ := f[2]
	s.recMedia = false
	data := s.defaults(typ, at)
	caseID := s.cases["A"].String()
	officers := officerPool[:2]
	recorded := at.Add(5 * time.Minute)
	s.devSeq++
	devSeq, device := s.devSeq, s.device
	var media []any
	name := ""
	for _, kv := range f[3:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			s.t.Fatalf("%s: %q is not key=value", where, kv)
		}
		switch k {
		case "@case":
			if v == "-" {
				caseID = ""
			} else {
				caseID = s.cases[v].String()
			}
		case "@officers":
			if v == "dup" { // one officer listed twice
				officers = []map[string]any{officerPool[0], officerPool[0]}
				break
			}
			var n int
			fmt.Sscan(v, &n)
			officers = officerPool[:n]
		case "@nocert": // the last officer has no 执法证号
			officers = append(slices.Clone(officers[:len(officers)-1]), map[string]any{"id": "O-0099", "name": "辅助人员"})
		case "@recorded":
			d, err := time.ParseDuration(strings.TrimPrefix(v, "+"))
			if err != nil {
				s.t.Fatalf("%s: %v", where, err)
			}
			recorded = at.Add(d)
		case "@seq":
			fmt.Sscan(v, &devSeq)
			s.devSeq = devSeq
		case "@device":
			device = v
		case "@media":
			media = append(media, map[string]any{"sha256": fmt.Sprintf("%064x", s.nRec+1), "size": 100, "content_type": v + "/mp4"})
		case "@name":
			name = v
		case "link":
			data["events"] = []any{s.name(v)}
		case "span", "gap":
			a, b, _ := strings.Cut(v, "-")
			ta, err1 := time.ParseInLocation("2006-01-02 15:04", f[0]+" "+a, cst)
			tb, err2 := time.ParseInLocation("2006-01-02 15:04", f[0]+" "+b, cst)
			if err1 != nil || err2 != nil {
				s.t.Fatalf("%s: bad %s %q", where, k, v)
			}
			if k == "span" {
				data["started_at"], data["ended_at"] = ta.Format(time.RFC3339), tb.Format(time.RFC3339)
			} else {
				data["interruptions"] = append(data["interruptions"].([]any), map[string]any{"from": ta.Format(time.RFC3339), "to": tb.Format(time.RFC3339), "reason": "电量不足"})
			}
		default:
			var val any
			if err := json.Unmarshal([]byte(v), &val); err != nil {
				val = v
			}
			if n, err := strconv.Atoi(strings.TrimPrefix(v, "@")); err == nil && strings.HasPrefix(v, "@") {
				val = s.seqs[n-1] // the seq of the scenario's n-th record
			}
			m := data
			path := strings.Split(k, ".")
			for _, p := range path[:len(path)-1] {
				sub, _ := m[p].(map[string]any)
				if sub == nil {
					sub = map[string]any{}
					m[p] = sub
				}
				m = sub
			}
			if v == "~" {
				delete(m, path[len(path)-1])
			} else {
				m[path[len(path)-1]] = val
			}
		}
	}
	if typ == "recording.linked" {
		data["case_id"] = caseID
	}
	s.nRec++
	id := s.newID()
	if name != "" {
		id = s.name(name)
	}
	rec := map[string]any{"id": id, "type": typ, "occurred_at": at.Format(time.RFC3339),
		"device": map[string]any{"id": device, "seq": devSeq}, "officers": officers, "data": data}
	if caseID != "" {
		rec["case_id"] = caseID
	}
	if media == nil && s.recMedia {
		media = append(media, map[string]any{"sha256": fmt.Sprintf("%064x", s.total), "size": 100, "content_type": "video/mp4",
			"started_at": data["started_at"], "ended_at": data["ended_at"]})
	}
	if media != nil {
		rec["media"] = media
	}
	raw, _ := json.Marshal(rec)
	v, err := jsonview.Parse(raw)
	if err != nil {
		s.t.Fatalf("%s: %v\n%s", where, err, raw)
	}
	if verr := catalog.Validate(v, recorded.Add(time.Hour), catalog.Options{}); verr != nil {
		s.t.Fatalf("%s: record is not valid under the catalogue: %v\n%s", where, verr, raw)
	}
	seq := s.l.append(s.t, raw, recorded)
	s.seqs = append(s.seqs, seq)
	s.en.wait(s.t, seq+1)
}

// format writes a finding in the scripts' canonical form.
func (s *script) format(f projections.Finding) string {
	var b strings.Builder
	state := "closed"
	if f.Open {
		state = "open"
	}
	fmt.Fprintf(&b, "%s/%s %s %s", f.Rule, f.Check, f.Severity, state)
	if f.Due != nil {
		fmt.Fprintf(&b, " due=%s", f.Due.In(cst).Format(time.DateOnly))
	}
	if f.Actual != nil {
		fmt.Fprintf(&b, " actual=%s", f.Actual.In(cst).Format(time.DateOnly))
	}
	if f.SurchargeFen > 0 {
		fmt.Fprintf(&b, " surcharge=%d", f.SurchargeFen)
	}
	var refs []string
	for _, q := range f.Seqs {
		i := slices.Index(s.seqs, q)
		if i < 0 {
			refs = append(refs, fmt.Sprintf("seq%d", q))
		} else {
			refs = append(refs, fmt.Sprintf("@%d", i+1))
		}
	}
	b.WriteString(" " + strings.Join(refs, ","))
	return b.String()
}

// check compares the scenario's findings at now with want, and checks that
// the list across cases, the case endpoint and the case file agree.
func (s *script) check(where string, now time.Time, want []string) {
	s.t.Helper()
	s.en.setNow(now)
	// What a long-running store's compactions do, done now: a live key
	// written twice and single-deleted would show again from here.
	if err := s.en.st.Compact(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	mine := func(f projections.Finding) bool { return slices.Contains(s.seqs, f.Seqs[0]) }
	var got []string
	var listed []projections.Finding
	for _, f := range s.en.all(s.t, compliance.Filter{}, now) {
		if mine(f) {
			got = append(got, s.format(f))
			if f.Message == "" || f.Basis == "" {
				s.t.Errorf("%s: finding without message or basis: %+v", where, f)
			}
			listed = append(listed, f)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		s.t.Errorf("%s: scenario %q: findings at %s:\ngot:\n  %s\nwant:\n  %s", where, s.title, now.Format("2006-01-02 15:04"),
			strings.Join(orNone(got), "\n  "), strings.Join(orNone(want), "\n  "))
	}
	// The same findings, case by case, from Case and from the case file.
	sn, err := s.en.st.Snapshot()
	if err != nil {
		s.t.Fatal(err)
	}
	defer sn.Close()
	var byCase []string
	for _, id := range []uuid.UUID{s.cases["A"], s.cases["B"]} {
		fs, _, err := s.en.p.Case(sn, id, now)
		if err != nil {
			s.t.Fatal(err)
		}
		v, err := casefile.Read(sn, id, casefile.Config{Compliance: s.en.p, Now: func() time.Time { return now }})
		if err != nil {
			s.t.Fatal(err)
		}
		if v != nil && fmt.Sprint(v.Findings) != fmt.Sprint(fs) {
			s.t.Errorf("%s: case file findings %v, Case %v", where, v.Findings, fs)
		}
		for _, f := range fs {
			byCase = append(byCase, s.format(f))
		}
	}
	var listedCase []string
	for _, f := range listed {
		if f.CaseID != "" {
			listedCase = append(listedCase, s.format(f))
		}
	}
	sort.Strings(byCase)
	sort.Strings(listedCase)
	if strings.Join(byCase, "\n") != strings.Join(listedCase, "\n") {
		s.t.Errorf("%s: Case() gives\n  %s\nList gives\n  %s", where, strings.Join(byCase, "\n  "), strings.Join(listedCase, "\n  "))
	}
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}

// tinyMemTable gives a store a memtable so small that Pebble flushes it
// every few entries and compacts all along, as a long-running store does:
// the live index is deleted with SingleDelete, right only if each key is
// written once per deletion, and a key written twice would come back once
// its writes meet in a flush or a compaction.
func tinyMemTable(cfg *projections.Config) { cfg.MemTableSize = 4 << 10 }
