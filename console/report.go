package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections/report"
)

type figureRow struct {
	Key, Label, Unit, Value string
	Href                    string
}

// categoryRow is one category's line of the report: its three figures.
type categoryRow struct {
	Name                    string
	Cases, Decisions, Fines figureRow
}

type reportData struct {
	Categories  []categoryRow
	Year        int
	Years       []int
	Note        string
	R           *report.Report
	Figures     []figureRow
	Findings    []figureRow
	Appearance  string
	ByCategory  chart
	FinesByCat  chart
	Monthly     chart
	MonthlyNote string
	Query       string // year and size of this report, for links
}

// maxMonthItems bounds the drill-down read to chart a figure by month.
const maxMonthItems = 50000

func (c *Console) yearParam(r *http.Request) (int, error) {
	y := c.cfg.Now().In(c.cfg.Location).Year()
	if s := r.URL.Query().Get("year"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1949 || n > 9999 {
			return 0, &apiError{Status: http.StatusBadRequest, Detail: "年份无效"}
		}
		y = n
	}
	return y, nil
}

func sizeParam(r *http.Request) string {
	s := r.URL.Query().Get("size")
	if _, err := strconv.ParseUint(s, 10, 64); err != nil {
		return ""
	}
	return s
}

func (c *Console) reportPage(w http.ResponseWriter, r *http.Request, s *session) error {
	year, err := c.yearParam(r)
	if err != nil {
		return err
	}
	d := reportData{Year: year}
	now := c.cfg.Now().In(c.cfg.Location).Year()
	for y := now; y >= now-5; y-- {
		d.Years = append(d.Years, y)
	}
	cw, err := c.call(r, s, "/v1/reports/annual"+queryOf("year", itoa(int64(year)), "size", sizeParam(r)))
	switch {
	case err == nil:
	case denied(err):
		d.Note = "您的角色无权查看年度报告。"
	case missing(err):
		d.Note = "暂无数据"
	default:
		return err
	}
	if err != nil {
		c.render(w, r, s, http.StatusOK, "report", d)
		return nil
	}
	var rep report.Report
	var flat map[string]any
	if err := json.Unmarshal(cw.body.Bytes(), &rep); err != nil {
		return err
	}
	if err := json.Unmarshal(cw.body.Bytes(), &flat); err != nil {
		return err
	}
	values := map[string]float64{}
	flatten("", flat, values)
	d.R = &rep
	d.Query = queryOf("year", itoa(int64(year)), "size", utoa(rep.AsOf.Size))
	link := func(key string) string { return "/console/report/figure/" + url.PathEscape(key) + d.Query }
	show := func(v float64, unit string) string {
		if unit == "分" {
			return yuan(int64(v))
		}
		return strconv.FormatFloat(v, 'f', -1, 64) + " " + unit
	}
	for _, f := range report.Figures() {
		if !strings.HasPrefix(f.Key, "by_category.") {
			d.Figures = append(d.Figures, figureRow{Key: f.Key, Label: f.Label, Unit: f.Unit, Value: show(values[f.Key], f.Unit), Href: link(f.Key)})
		}
	}
	for _, cat := range catalogCategories() {
		fig := func(name, unit string) figureRow {
			k := "by_category." + cat.Code + "." + name
			return figureRow{Key: k, Unit: unit, Value: show(values[k], unit), Href: link(k)}
		}
		d.Categories = append(d.Categories, categoryRow{Name: cat.Chinese, Cases: fig("cases_opened", "件"),
			Decisions: fig("penalty_decisions", "件"), Fines: fig("fines_decided_fen", "分")})
	}
	d.Appearance = strconv.FormatFloat(rep.Lawsuits.AppearanceRate*100, 'f', 1, 64) + "%"
	for rule, n := range rep.Findings {
		d.Findings = append(d.Findings, figureRow{Key: "findings." + rule, Label: ruleName(rule), Value: itoa(n) + " 件", Href: link("findings." + rule)})
	}
	var cases, fines []point
	for _, cat := range catalogCategories() {
		bc := rep.ByCategory[cat.Code]
		cases = append(cases, point{Label: cat.Chinese, Value: float64(bc.CasesOpened), Text: itoa(bc.CasesOpened) + " 件",
			Href: link("by_category." + cat.Code + ".cases_opened")})
		fines = append(fines, point{Label: cat.Chinese, Value: float64(bc.FinesDecidedFen), Text: yuan(bc.FinesDecidedFen),
			Href: link("by_category." + cat.Code + ".fines_decided_fen")})
	}
	d.ByCategory = rows("bycat", "各类别立案数", "件", cases)
	d.FinesByCat = rows("finecat", "各类别决定罚款金额", "元", fines)
	d.Monthly, d.MonthlyNote = c.monthly(r, s, year, rep.AsOf.Size)
	c.render(w, r, s, http.StatusOK, "report", d)
	return nil
}

func catalogCategories() []catalogValue {
	var out []catalogValue
	for _, v := range catalog.Categories() {
		out = append(out, catalogValue{v.Code, v.Chinese})
	}
	return out
}

// flatten turns the report's JSON into figure names: {"a":{"b":1}} → a.b.
func flatten(prefix string, v any, out map[string]float64) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if prefix != "" {
				k = prefix + "." + k
			}
			flatten(k, e, out)
		}
	case float64:
		out[prefix] = x
	}
}

// monthly charts cases opened and penalty decisions by month of occurred_at,
// from the drill-downs of those figures (so the months add up to the
// report's figures) and the entries' own occurred_at.
func (c *Console) monthly(r *http.Request, s *session, year int, size uint64) (chart, string) {
	if c.cfg.Ledger == nil {
		return chart{}, "暂无数据"
	}
	var months [12]float64
	for _, fig := range []string{"cases_opened.general", "cases_opened.simple"} {
		var fr report.FigureReport
		path := "/v1/reports/annual/" + fig + queryOf("year", itoa(int64(year)), "size", utoa(size))
		if err := c.getJSON(r, s, path, &fr); err != nil {
			return chart{}, "暂无数据"
		}
		if len(fr.Items) > maxMonthItems {
			return chart{}, "条目过多，未按月统计"
		}
		for _, it := range fr.Items {
			t, err := c.occurredAt(it.Seq)
			if err != nil {
				return chart{}, "暂无数据"
			}
			if t.Year() == year {
				months[t.Month()-1]++
			}
		}
	}
	pts := make([]point, 12)
	for i, n := range months {
		pts[i] = point{Label: fmt.Sprintf("%d月", i+1), Value: n, Text: strconv.FormatFloat(n, 'f', 0, 64) + " 件"}
	}
	return columns("monthly", fmt.Sprintf("%d 年各月立案数（按立案时间）", year), "件", pts, 1), ""
}

// occurredAt reads an entry's occurred_at, in the agency's zone.
func (c *Console) occurredAt(seq uint64) (time.Time, error) {
	b, err := c.cfg.Ledger.EntryAt(seq)
	if err != nil {
		return time.Time{}, err
	}
	var rec struct {
		OccurredAt string `json:"occurred_at"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return time.Time{}, err
	}
	t, err := ledger.ParseTimestamp(rec.OccurredAt)
	return t.In(c.cfg.Location), err
}

type figureData struct {
	F     *report.FigureReport
	Money bool
	Back  string
	Note  string
}

func (c *Console) figurePage(w http.ResponseWriter, r *http.Request, s *session) error {
	year, err := c.yearParam(r)
	if err != nil {
		return err
	}
	fig := r.PathValue("figure")
	q := queryOf("year", itoa(int64(year)), "size", sizeParam(r))
	var fr report.FigureReport
	if err := c.getJSON(r, s, "/v1/reports/annual/"+url.PathEscape(fig)+q, &fr); err != nil {
		return err
	}
	d := figureData{F: &fr, Money: fr.Unit == "分", Back: "/console/report" + q}
	c.render(w, r, s, http.StatusOK, "figure", d)
	return nil
}

// reportDownload is the report as CSV or Markdown, from the API, as a file.
func (c *Console) reportDownload(w http.ResponseWriter, r *http.Request, s *session) error {
	year, err := c.yearParam(r)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	ext := map[string]string{"csv": "csv", "md": "md"}[format]
	if ext == "" {
		return &apiError{Status: http.StatusBadRequest, Detail: "格式须为 csv 或 md"}
	}
	cw, err := c.call(r, s, "/v1/reports/annual"+queryOf("year", itoa(int64(year)), "size", sizeParam(r), "format", format))
	if err != nil {
		return err
	}
	name := fmt.Sprintf("年度报告-%d.%s", year, ext)
	w.Header().Set("Content-Type", cw.header.Get("Content-Type"))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="annual-report-%d.%s"; filename*=UTF-8''%s`, year, ext, url.PathEscape(name)))
	w.Write(cw.body.Bytes())
	return nil
}
