package console

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/liuhen/liuhen/projections"
)

// finding is a compliance finding as the findings endpoints serve it
// (issue 6): the shape of projections.Finding plus the case it is about.
type finding struct {
	projections.Finding
	CaseID     string `json:"case_id"`
	CaseNumber string `json:"case_number"`
	Open       *bool  `json:"open"`
}

// decodeFindings reads {"findings": [...]} or a bare array.
func decodeFindings(b []byte) ([]finding, error) {
	b = bytes.TrimSpace(b)
	var fs []finding
	if len(b) > 0 && b[0] == '[' {
		err := json.Unmarshal(b, &fs)
		return fs, err
	}
	var wrap struct {
		Findings []finding `json:"findings"`
	}
	err := json.Unmarshal(b, &wrap)
	return wrap.Findings, err
}

// findings asks GET /v1/findings?query.
func (c *Console) findings(r *http.Request, s *session, query string) ([]finding, error) {
	w, err := c.call(r, s, "/v1/findings?"+query)
	if err != nil {
		return nil, err
	}
	fs, err := decodeFindings(w.body.Bytes())
	if err != nil {
		return nil, fmt.Errorf("console: /v1/findings: %v", err)
	}
	return fs, nil
}

// caseFindings asks GET /v1/cases/{id}/findings, or falls back on the
// findings the case file carries.
func (c *Console) caseFindings(r *http.Request, s *session, caseID string, fallback []projections.Finding) ([]finding, string) {
	w, err := c.call(r, s, "/v1/cases/"+url.PathEscape(caseID)+"/findings")
	if err == nil {
		fs, err := decodeFindings(w.body.Bytes())
		if err == nil {
			return fs, "/v1/cases/{id}/findings"
		}
	}
	fs := make([]finding, len(fallback))
	for i, f := range fallback {
		fs[i] = finding{Finding: f, CaseID: caseID}
	}
	return fs, "案卷"
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
	if d.Rule != "" {
		aq.Set("rule", d.Rule)
	}
	if d.Open != "all" {
		aq.Set("open", d.Open)
	}
	fs, err := c.findings(r, s, aq.Encode())
	switch {
	case err == nil:
	case denied(err):
		d.Note = "您的角色无权查看规范性检查结果。"
	case missing(err):
		d.Note = "暂无数据：规范性检查尚未启用。"
	default:
		return err
	}
	for _, f := range fs {
		if d.Severity != "" && f.Severity != d.Severity {
			continue
		}
		d.Total++
		if f.Severity == "violation" {
			d.Violations++
		} else {
			d.Warnings++
		}
		if len(d.Findings) < maxFindingsShown {
			d.Findings = append(d.Findings, f)
		}
	}
	kept := fs[:0:0]
	for _, f := range fs {
		if d.Severity == "" || f.Severity == d.Severity {
			kept = append(kept, f)
		}
	}
	d.Rules = countByRule(kept)
	for id := range ruleNames {
		d.RuleOptions = append(d.RuleOptions, ruleCount{Rule: id, Name: ruleNames[id]})
	}
	slices.SortFunc(d.RuleOptions, func(a, b ruleCount) int { return cmp.Compare(a.Rule, b.Rule) })
	c.render(w, r, s, http.StatusOK, "findings", d)
	return nil
}
