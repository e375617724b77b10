package report

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
)

// A Figure is one drillable figure of the report.
type Figure struct {
	Key   string // flat name, as in /v1/reports/annual/{figure}
	Label string // Simplified Chinese
	Unit  string // 件, 分 (fen), 比率
}

// Figures returns the report's figures in report order, with Chinese labels.
func Figures() []Figure {
	fs := []Figure{
		{"cases_opened.general", "立案数（一般程序）", "件"},
		{"cases_opened.simple", "立案数（简易程序）", "件"},
		{"decisions.penalty", "作出行政处罚决定", "件"},
		{"decisions.no_penalty", "作出不予行政处罚决定", "件"},
		{"decisions.transfer", "移送司法机关或其他机关", "件"},
		{"fines_decided_fen", "决定罚款金额", "分"},
		{"fines_collected_fen", "收缴罚款金额", "分"},
		{"publications", "行政处罚决定公示", "件"},
		{"publications_on_time", "七个工作日内公示", "件"},
		{"legal_reviews", "重大执法决定法制审核", "件"},
		{"collective_discussions", "集体讨论", "件"},
		{"hearings", "举行听证", "件"},
		{"court_enforcement.applied", "申请人民法院强制执行", "件"},
		{"court_enforcement.granted", "法院裁定准予执行", "件"},
		{"court_enforcement.denied", "法院裁定不予执行", "件"},
		{"court_enforcement.pending", "法院尚未裁定", "件"},
		{"lawsuits.filed", "行政诉讼案件（本机关为被告）", "件"},
		{"lawsuits.heard", "已开庭审理", "件"},
		{"lawsuits.responsible_person_appeared", "负责人出庭应诉", "件"},
		{"reconsiderations", "行政复议申请", "件"},
	}
	for _, c := range catalog.Categories() {
		fs = append(fs,
			Figure{"by_category." + c.Code + ".cases_opened", c.Chinese + "：立案数", "件"},
			Figure{"by_category." + c.Code + ".penalty_decisions", c.Chinese + "：处罚决定", "件"},
			Figure{"by_category." + c.Code + ".fines_decided_fen", c.Chinese + "：决定罚款金额", "分"},
		)
	}
	return fs
}

func figureByKey(k string) (Figure, bool) {
	for _, f := range Figures() {
		if f.Key == k {
			return f, true
		}
	}
	if rule, ok := strings.CutPrefix(k, "findings."); ok && rule != "" {
		return Figure{k, "规范性检查发现：" + rule, "件"}, true
	}
	return Figure{}, false
}

// value returns the figure's value in r.
func (r *Report) value(k string) int64 {
	switch k {
	case "cases_opened.general":
		return r.CasesOpened.General
	case "cases_opened.simple":
		return r.CasesOpened.Simple
	case "decisions.penalty":
		return r.Decisions.Penalty
	case "decisions.no_penalty":
		return r.Decisions.NoPenalty
	case "decisions.transfer":
		return r.Decisions.Transfer
	case "fines_decided_fen":
		return r.FinesDecidedFen
	case "fines_collected_fen":
		return r.FinesCollectedFen
	case "publications":
		return r.Publications
	case "publications_on_time":
		return r.PublicationsOnTime
	case "legal_reviews":
		return r.LegalReviews
	case "collective_discussions":
		return r.CollectiveDiscussions
	case "hearings":
		return r.Hearings
	case "court_enforcement.applied":
		return r.CourtEnforcement.Applied
	case "court_enforcement.granted":
		return r.CourtEnforcement.Granted
	case "court_enforcement.denied":
		return r.CourtEnforcement.Denied
	case "court_enforcement.pending":
		return r.CourtEnforcement.Pending
	case "lawsuits.filed":
		return r.Lawsuits.Filed
	case "lawsuits.heard":
		return r.Lawsuits.Heard
	case "lawsuits.responsible_person_appeared":
		return r.Lawsuits.ResponsiblePersonAppeared
	case "reconsiderations":
		return r.Reconsiderations
	}
	if rest, ok := strings.CutPrefix(k, "by_category."); ok {
		code, field, _ := strings.Cut(rest, ".")
		c := r.ByCategory[code]
		switch field {
		case "cases_opened":
			return c.CasesOpened
		case "penalty_decisions":
			return c.PenaltyDecisions
		case "fines_decided_fen":
			return c.FinesDecidedFen
		}
	}
	if rule, ok := strings.CutPrefix(k, "findings."); ok {
		return r.Findings[rule]
	}
	return 0
}

// Handler serves the annual report from src:
//
//	GET /v1/reports/annual?year=Y&size=N&format=json|csv|md
//	GET /v1/reports/annual/{figure}?year=Y&size=N
//
// year defaults to the current year in the agency's zone, size to every
// entry the read model has applied. log, if not nil, supplies the Merkle
// root at size and the signed checkpoint covering it.
func Handler(src projections.Source, cfg Config, log Log) http.Handler {
	h := &handler{src: src, log: log, loc: cfg.Location, now: cfg.Now, findings: cfg.Findings}
	if h.loc == nil {
		h.loc, _ = projections.LoadZone("")
	}
	if h.now == nil {
		h.now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/reports/annual", h.report)
	mux.HandleFunc("GET /v1/reports/annual/{figure}", h.figure)
	return mux
}

type handler struct {
	src      projections.Source
	log      Log
	loc      *time.Location
	now      func() time.Time
	findings Findings // nil: none
}

// params reads year and size; size 0 in the result means "not given".
func (h *handler) params(w http.ResponseWriter, r *http.Request) (year int, size uint64, given, ok bool) {
	q := r.URL.Query()
	year = h.now().In(h.loc).Year()
	if s := q.Get("year"); s != "" {
		y, err := strconv.Atoi(s)
		if err != nil || y < 1949 || y > 9999 {
			projections.WriteProblem(w, projections.CodeBadParameter, "year", "year is a calendar year, e.g. 2020")
			return 0, 0, false, false
		}
		year = y
	}
	if s := q.Get("size"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			projections.WriteProblem(w, projections.CodeBadParameter, "size", "size is a ledger size, a whole number")
			return 0, 0, false, false
		}
		return year, n, true, true
	}
	return year, 0, false, true
}

func (h *handler) compute(ctx context.Context, w http.ResponseWriter, sn *projections.Snapshot, year int, size uint64) *Report {
	rep, err := Compute(sn, year, size)
	if errors.Is(err, ErrSizeAhead) {
		projections.WriteProblem(w, projections.CodeSizeAhead, "size", err.Error())
		return nil
	}
	if err != nil {
		projections.WriteProblem(w, projections.CodeInternal, "", err.Error())
		return nil
	}
	rep.Zone = h.loc.String()
	if h.findings != nil {
		if rep.Findings, err = h.findings.Count(sn, year, size, h.now()); err != nil {
			projections.WriteProblem(w, projections.CodeInternal, "", "findings: "+err.Error())
			return nil
		}
	}
	if h.log != nil && size > 0 {
		switch root, err := h.log.RootAt(size); {
		case errors.Is(err, ErrNoRoot):
		case err != nil:
			projections.WriteProblem(w, projections.CodeUnavailable, "", "root: "+err.Error())
			return nil
		default:
			rep.AsOf.Root = ledger.Hex(root)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if cp, err := h.log.CheckpointCovering(cctx, size); err == nil {
			rep.Checkpoint = &Checkpoint{Size: cp.Size, Root: ledger.Hex(cp.Root), Note: string(cp.Note)}
		}
	}
	return rep
}

func (h *handler) report(w http.ResponseWriter, r *http.Request) {
	year, size, given, ok := h.params(w, r)
	if !ok {
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" && format != "md" {
		projections.WriteProblem(w, projections.CodeBadParameter, "format", "format is json, csv or md")
		return
	}
	sn, err := h.src.Snapshot()
	if err != nil {
		projections.WriteProblem(w, projections.CodeUnavailable, "", err.Error())
		return
	}
	defer sn.Close()
	if !given {
		size = sn.Size
	}
	rep := h.compute(r.Context(), w, sn, year, size)
	if rep == nil {
		return
	}
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="report-%d-%d.csv"`, year, size))
		rep.WriteCSV(w)
	case "md":
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		rep.WriteMarkdown(w)
	default:
		projections.WriteJSON(w, rep)
	}
}

// FigureReport is the drill-down of one figure.
type FigureReport struct {
	Year   int    `json:"year"`
	Figure string `json:"figure"`
	Label  string `json:"label"`
	Unit   string `json:"unit"`
	Value  int64  `json:"value"`
	AsOf   AsOf   `json:"as_of"`
	Cases  int    `json:"cases"` // distinct cases
	Items  []Item `json:"items"`
}

func (h *handler) figure(w http.ResponseWriter, r *http.Request) {
	f, ok := figureByKey(r.PathValue("figure"))
	if !ok {
		projections.WriteProblem(w, projections.CodeNotFound, "figure", "no figure "+r.PathValue("figure"))
		return
	}
	year, size, given, ok := h.params(w, r)
	if !ok {
		return
	}
	sn, err := h.src.Snapshot()
	if err != nil {
		projections.WriteProblem(w, projections.CodeUnavailable, "", err.Error())
		return
	}
	defer sn.Close()
	if !given {
		size = sn.Size
	}
	rep := h.compute(r.Context(), w, sn, year, size)
	if rep == nil {
		return
	}
	var items []Item
	if rule, ok := strings.CutPrefix(f.Key, "findings."); ok && h.findings != nil {
		items, err = h.findings.Items(sn, year, rule, size, h.now())
	} else {
		items, err = Drill(sn, year, f.Key, size)
	}
	if err != nil {
		projections.WriteProblem(w, projections.CodeInternal, "", err.Error())
		return
	}
	cases := map[string]bool{}
	for _, it := range items {
		cases[it.CaseID] = true
	}
	projections.WriteJSON(w, &FigureReport{Year: year, Figure: f.Key, Label: f.Label, Unit: f.Unit,
		Value: rep.value(f.Key), AsOf: rep.AsOf, Cases: len(cases), Items: items})
}

// WriteCSV writes the report as CSV with Chinese labels: 字段, 指标, 数值, 单位.
// Money is in fen, as in JSON.
func (r *Report) WriteCSV(w interface{ Write([]byte) (int, error) }) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"字段", "指标", "数值", "单位"})
	cw.Write([]string{"year", "年度", strconv.Itoa(r.Year), "年"})
	cw.Write([]string{"as_of.size", "账本条目数", strconv.FormatUint(r.AsOf.Size, 10), "条"})
	cw.Write([]string{"as_of.root", "默克尔树根", r.AsOf.Root, ""})
	for _, f := range Figures() {
		cw.Write([]string{f.Key, f.Label, strconv.FormatInt(r.value(f.Key), 10), f.Unit})
		if f.Key == "lawsuits.responsible_person_appeared" {
			cw.Write([]string{"lawsuits.appearance_rate", "负责人出庭应诉率", strconv.FormatFloat(r.Lawsuits.AppearanceRate, 'f', 4, 64), "比率"})
		}
	}
	for _, rule := range slices.Sorted(maps.Keys(r.Findings)) {
		cw.Write([]string{"findings." + rule, "规范性检查发现：" + rule, strconv.FormatInt(r.Findings[rule], 10), "件"})
	}
	cw.Flush()
	return cw.Error()
}

// Yuan formats fen as 元 with two decimals and thousands separators.
func Yuan(fen int64) string {
	neg := fen < 0
	if neg {
		fen = -fen
	}
	s := strconv.FormatInt(fen/100, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	s = fmt.Sprintf("%s.%02d", s, fen%100)
	if neg {
		s = "-" + s
	}
	return s
}

// WriteMarkdown writes the report as a Markdown table with Chinese labels;
// money in 元.
func (r *Report) WriteMarkdown(w interface{ Write([]byte) (int, error) }) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %d年度行政执法统计\n\n", r.Year)
	fmt.Fprintf(&b, "- 时区：%s\n- 账本条目数：%d\n", r.Zone, r.AsOf.Size)
	if r.AsOf.Root != "" {
		fmt.Fprintf(&b, "- 默克尔树根：`%s`\n", r.AsOf.Root)
	}
	if r.Checkpoint != nil {
		fmt.Fprintf(&b, "- 签名检查点：第 %d 条，树根 `%s`\n", r.Checkpoint.Size, r.Checkpoint.Root)
	}
	b.WriteString("\n| 指标 | 数值 |\n|---|---:|\n")
	for _, f := range Figures() {
		v := r.value(f.Key)
		if strings.HasPrefix(f.Key, "by_category.") && v == 0 {
			continue
		}
		val := strconv.FormatInt(v, 10) + " 件"
		if f.Unit == "分" {
			val = Yuan(v) + " 元"
		}
		fmt.Fprintf(&b, "| %s | %s |\n", f.Label, val)
		if f.Key == "lawsuits.responsible_person_appeared" {
			fmt.Fprintf(&b, "| 负责人出庭应诉率 | %.1f%% |\n", r.Lawsuits.AppearanceRate*100)
		}
	}
	for _, rule := range slices.Sorted(maps.Keys(r.Findings)) {
		fmt.Fprintf(&b, "| 规范性检查发现：%s | %d 件 |\n", rule, r.Findings[rule])
	}
	_, err := w.Write([]byte(b.String()))
	return err
}
