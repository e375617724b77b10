package console

import (
	"encoding/json"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/report"
)

// funcs are the templates' formatting functions. Every one returns plain
// text (html/template escapes it for its context); none returns
// template.HTML.
func funcs(loc *time.Location) template.FuncMap {
	return template.FuncMap{
		"yuan":      yuan,
		"datetime":  func(t any) string { return formatTime(t, loc, "2006-01-02 15:04") },
		"datetimes": func(t any) string { return formatTime(t, loc, "2006-01-02 15:04:05") },
		"date":      func(t any) string { return formatTime(t, loc, "2006-01-02") },
		"short":     shortHash,
		"category":  categoryName,
		"procedure": procedureName,
		"status":    statusName,
		"severity":  severityName,
		"typename":  casefile.TypeName,
		"party":     partyOf,
		"add":       func(a, b int) int { return a + b },
		"query":     func(kv ...string) template.URL { return template.URL(queryOf(kv...)) },
		"pathseg":   url.PathEscape,
		"bytesize":  byteSize,
		"deref":     func(b *bool) bool { return b != nil && *b },
		"outcome":   outcomeName,
		"basis":     basisText,
		"rulename":  ruleName,
		"hours":     func(d time.Duration) string { return trimFloat(d.Hours()) },
		"delay":     delayText,
		"offset":    offsetText,
		"source":    func(code string) string { return enumName("case.registered", "source", code) },
		"mediaArgs": func(caseID string, reader bool, csrf string, m mediaRow) mediaArgs {
			return mediaArgs{CaseID: caseID, Reader: reader, CSRF: csrf, M: m}
		},
	}
}

// yuan formats fen as 元 with two decimals: 1234567 → "12,345.67 元".
func yuan(fen int64) string { return report.Yuan(fen) + " 元" }

// formatTime shows a time in the agency's zone. It takes a time.Time,
// a *time.Time or an RFC 3339 string (as the case file's timeline carries);
// a zero or missing time is "—".
func formatTime(v any, loc *time.Location, layout string) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	case string:
		p, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return x
		}
		t = p
	}
	if t.IsZero() {
		return "—"
	}
	return t.In(loc).Format(layout)
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

var categoryNames = func() map[string]string {
	m := map[string]string{}
	for _, v := range catalog.Categories() {
		m[v.Code] = v.Chinese
	}
	return m
}()

func categoryName(code string) string {
	if n, ok := categoryNames[code]; ok {
		return n
	}
	if code == "" {
		return "—"
	}
	return code
}

func procedureName(p string) string {
	switch p {
	case catalog.ProcedureGeneral:
		return "一般程序"
	case catalog.ProcedureSimple:
		return "简易程序"
	case "":
		return "—"
	}
	return p
}

func statusName(s string) string {
	switch s {
	case casefile.StatusOpen:
		return "办理中"
	case casefile.StatusClosed:
		return "已结案"
	case casefile.StatusArchived:
		return "已归档"
	}
	return s
}

func severityName(s string) string {
	switch s {
	case "violation":
		return "违规"
	case "warning":
		return "预警"
	}
	return s
}

// party is a party of case.opened as shown: kind and name.
type party struct {
	Kind, Name string
}

func partyOf(raw json.RawMessage) party {
	var p struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	}
	json.Unmarshal(raw, &p)
	switch p.Kind {
	case catalog.PartyPerson:
		p.Kind = "自然人"
	case catalog.PartyOrg:
		p.Kind = "法人或其他组织"
	}
	return party{p.Kind, p.Name}
}

// queryOf builds "?k=v&…" from pairs, leaving out empty values.
func queryOf(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return trimFloat(float64(n)/(1<<30)) + " GiB"
	case n >= 1<<20:
		return trimFloat(float64(n)/(1<<20)) + " MiB"
	case n >= 1<<10:
		return trimFloat(float64(n)/(1<<10)) + " KiB"
	}
	return itoa(n) + " 字节"
}

func trimFloat(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
}

func outcomeName(o string) string {
	switch o {
	case catalog.OutcomePenalty:
		return "给予行政处罚"
	case catalog.OutcomeNoPenalty:
		return "不予行政处罚"
	case catalog.OutcomeTransfer:
		return "移送"
	}
	return o
}

// basisText shows one legal basis as recorded: a string, or an object
// whose values are joined (e.g. {"law": "…", "article": "第二十条"}).
func basisText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		var parts []string
		for _, k := range []string{"law", "name", "article", "clause", "item"} {
			if v, ok := m[k].(string); ok && v != "" {
				parts = append(parts, v)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, " ")
		}
	}
	return string(raw)
}

func delayText(d time.Duration) string {
	if d >= 48*time.Hour {
		return trimFloat(d.Hours()/24) + " 天"
	}
	return trimFloat(d.Hours()) + " 小时"
}

// offsetText shows a device clock offset in milliseconds: positive means
// the device's clock was ahead.
func offsetText(ms *int64) string {
	if ms == nil {
		return "—"
	}
	d := time.Duration(*ms) * time.Millisecond
	switch {
	case *ms == 0:
		return "0 秒"
	case *ms > 0:
		return "设备快 " + trimFloat(d.Seconds()) + " 秒"
	}
	return "设备慢 " + trimFloat(-d.Seconds()) + " 秒"
}

// enumName is the Chinese name of an enumerated value of a record type's
// data field, from the catalogue, or the code itself.
func enumName(typ, field, code string) string {
	if t, ok := catalog.Lookup(typ); ok {
		for _, f := range t.Fields {
			if f.Name != field {
				continue
			}
			for _, v := range f.Values {
				if v.Code == code && v.Chinese != "" {
					return v.Chinese
				}
			}
		}
	}
	if code == "" {
		return "—"
	}
	return code
}

// mediaArgs is what the case page's "media" template shows for one file.
type mediaArgs struct {
	CaseID string
	Reader bool
	CSRF   string
	M      mediaRow
}
