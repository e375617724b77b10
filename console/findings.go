package console

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/compliance"
)

// finding is a compliance finding as GET /v1/findings serves it
// (package compliance), with the case number the console adds.
type finding struct {
	projections.Finding
	CaseNumber string `json:"-"`
}

// maxFindingPages bounds the pages of GET /v1/findings (500 a page) the
// console reads for one view.
const maxFindingPages = 20

// findings asks GET /v1/findings?query, following its pages. truncated
// says there were more than the console reads.
func (c *Console) findings(r *http.Request, s *session, q url.Values) (fs []finding, truncated bool, err error) {
	q.Set("limit", "500")
	for range maxFindingPages {
		var page struct {
			Findings []finding `json:"findings"`
			Next     string    `json:"next"`
		}
		if err := c.getJSON(r, s, "/v1/findings?"+q.Encode(), &page); err != nil {
			return nil, false, err
		}
		fs = append(fs, page.Findings...)
		if page.Next == "" {
			return fs, false, nil
		}
		q.Set("cursor", page.Next)
	}
	return fs, true, nil
}

// caseFindings asks GET /v1/cases/{id}/findings, or falls back on the
// findings the case file carries.
func (c *Console) caseFindings(r *http.Request, s *session, caseID string, fallback []projections.Finding) ([]finding, []casefile.Deadline, string) {
	var cf struct {
		Findings  []finding           `json:"findings"`
		Deadlines []casefile.Deadline `json:"deadlines"`
	}
	if err := c.getJSON(r, s, "/v1/cases/"+url.PathEscape(caseID)+"/findings", &cf); err == nil {
		return cf.Findings, cf.Deadlines, "规范性检查（GET /v1/cases/{id}/findings）"
	}
	fs := make([]finding, len(fallback))
	for i, f := range fallback {
		fs[i] = finding{Finding: f}
	}
	return fs, nil, "案卷"
}

// ruleNames are the compliance rules of issue 6, in Chinese.
var ruleNames = map[string]string{
	"two-officers":                 "两名执法人员",
	"filed-before-investigation":   "先立案后调查",
	"notice-before-decision":       "先告知后决定",
	"hearing":                      "听证程序",
	"legal-review":                 "法制审核",
	"collective-discussion":        "集体讨论",
	"decision-90d":                 "90日内作出决定",
	"preservation-7d":              "先行登记保存7日内处理",
	"measure-30d":                  "查封扣押30日期限",
	"service-7d":                   "7日内送达",
	"publish-7wd":                  "7个工作日内公示",
	"withdraw-3d":                  "3日内撤下公示",
	"payment-15d":                  "15日内缴纳罚款",
	"court-enforcement":            "申请法院强制执行",
	"no-night-holiday-enforcement": "不得夜间或节假日强制执行",
	"av-coverage":                  "音像记录覆盖",
	"late-upload":                  "迟传与设备时钟",
	"close-preconditions":          "结案条件",
	"order":                        "责令改正期限",
	"reminder":                     "催告期限",
}

func init() {
	for _, r := range compliance.Rules() {
		ruleNames[r.ID] = r.Name
	}
}

func ruleName(id string) string {
	if n, ok := ruleNames[id]; ok {
		return n
	}
	return id
}

func countByRule(fs []finding) []ruleCount {
	m := map[string]*ruleCount{}
	for _, f := range fs {
		rc := m[f.Rule]
		if rc == nil {
			rc = &ruleCount{Rule: f.Rule, Name: ruleName(f.Rule)}
			m[f.Rule] = rc
		}
		if f.Severity == "violation" {
			rc.Violations++
		} else {
			rc.Warnings++
		}
	}
	out := make([]ruleCount, 0, len(m))
	for _, rc := range m {
		out = append(out, *rc)
	}
	slices.SortFunc(out, func(a, b ruleCount) int {
		return cmp.Or(cmp.Compare(b.Violations+b.Warnings, a.Violations+a.Warnings), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

type findingsData struct {
	Rule, Severity, Open string
	Rules                []ruleCount
	Findings             []finding
	Total                int
	Violations, Warnings int
	Note                 string
	Truncated            bool
	RuleOptions          []ruleCount
}

// maxFindingsShown bounds the findings listed on one page.
const maxFindingsShown = 1000

func (c *Console) findingsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	d := findingsData{Rule: q.Get("rule"), Severity: q.Get("severity"), Open: q.Get("open")}
	if d.Open == "" {
		d.Open = "true"
	}
	aq := url.Values{}
	for k, v := range map[string]string{"rule": d.Rule, "severity": d.Severity, "open": d.Open} {
		if v != "" && v != "all" {
			aq.Set(k, v)
		}
	}
	fs, truncated, err := c.findings(r, s, aq)
	var ae *apiError
	switch {
	case err == nil:
	case denied(err):
		d.Note = "您的角色无权查看规范性检查结果。"
	case missing(err):
		d.Note = "暂无数据：规范性检查尚未启用。"
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		d.Note = "筛选条件有误：" + ae.Detail
	default:
		return err
	}
	d.Truncated = truncated
	numbers := c.caseNumbers(r, s)
	for _, f := range fs {
		d.Total++
		if f.Severity == "violation" {
			d.Violations++
		} else {
			d.Warnings++
		}
		if len(d.Findings) < maxFindingsShown {
			f.CaseNumber = numbers[f.CaseID]
			d.Findings = append(d.Findings, f)
		}
	}
	d.Rules = countByRule(fs)
	for _, r := range compliance.Rules() {
		d.RuleOptions = append(d.RuleOptions, ruleCount{Rule: r.ID, Name: r.Name})
	}
	c.render(w, r, s, http.StatusOK, "findings", d)
	return nil
}

// caseNumbers maps case ids to case numbers, from the dashboard's scan of
// the case list (nil when the user may not read case files).
func (c *Console) caseNumbers(r *http.Request, s *session) map[string]string {
	sc, err := c.scanCases(r, s)
	if err != nil {
		return nil
	}
	return sc.numbers
}
