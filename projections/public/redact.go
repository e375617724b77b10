package public

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/liuhen/liuhen/internal/catalog"
)

// Redaction follows 行政处罚结果信息网上公开暂行办法 and 国办发〔2018〕118号
// (reference/domain.md §5): natural persons' names become "王某"; their ID
// numbers, addresses, phone numbers and bank accounts are removed; minors
// are never published; organisations keep their names.

// compound surnames (复姓) that keep both characters.
var compound = []string{
	"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯",
	"轩辕", "令狐", "端木", "澹台", "公冶", "申屠", "太史", "闻人", "呼延", "南宫", "独孤", "万俟", "钟离",
}

// MaskName returns a natural person's name in 王某 style: the surname and 某.
// A name not written in Han characters keeps its first letter.
func MaskName(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return ""
	}
	for _, c := range compound {
		if strings.HasPrefix(name, c) && len(name) > len(c) {
			return c + "某"
		}
	}
	r, _ := utf8.DecodeRuneInString(name)
	if unicode.Is(unicode.Han, r) {
		return string(r) + "某"
	}
	return string(unicode.ToUpper(r)) + "某"
}

var (
	reIDNumber = regexp.MustCompile(`\d{17}[\dXx]|\d{15}`)
	reBank     = regexp.MustCompile(`\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}(?:[ -]?\d{1,3})?`)
	reMobile   = regexp.MustCompile(`(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}`)
	reLandline = regexp.MustCompile(`0\d{2,3}-\d{7,8}`)
)

const removed = "＊＊"

// RedactText removes ID numbers, bank accounts, phone numbers and the given
// addresses from free text, and masks the given persons' names.
func RedactText(s string, persons, addresses []string) string {
	if s == "" {
		return s
	}
	for _, a := range addresses {
		if a = strings.TrimSpace(a); a != "" {
			s = strings.ReplaceAll(s, a, removed)
		}
	}
	s = reIDNumber.ReplaceAllString(s, removed)
	s = reBank.ReplaceAllString(s, removed)
	s = reMobile.ReplaceAllString(s, removed)
	s = reLandline.ReplaceAllString(s, removed)
	for _, p := range persons {
		if p = strings.TrimSpace(p); p != "" && utf8.RuneCountInString(p) > 1 {
			s = strings.ReplaceAll(s, p, MaskName(p))
		}
	}
	return s
}

// party is a party as recorded in case.opened; only kind and name are
// published.
type party struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	IDNumber  string `json:"id_number"`
	Address   string `json:"address"`
	BirthDate string `json:"birth_date"`
	Minor     *bool  `json:"minor"`
	Age       *int   `json:"age"`
}

// Party is a party as published.
type Party struct {
	Kind string `json:"kind"` // person 自然人 / org 法人或其他组织
	Name string `json:"name"`
}

func parseParties(raw []json.RawMessage) []party {
	ps := make([]party, 0, len(raw))
	for _, r := range raw {
		var p party
		if json.Unmarshal(r, &p) == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// isMinor reports whether a natural person was under 18 at t: by an explicit
// minor flag or age, else by birth_date, else by the birth date inside an
// 18-digit resident ID number.
func (p *party) isMinor(t time.Time) bool {
	return catalog.MinorAt(p.Kind, p.Minor, p.Age, p.BirthDate, p.IDNumber, t)
}

func (p *party) published() Party {
	if p.Kind == catalog.PartyOrg {
		return Party{Kind: p.Kind, Name: p.Name}
	}
	return Party{Kind: catalog.PartyPerson, Name: MaskName(p.Name)}
}

// redactLegalBasis renders legal_basis items (strings or objects) as text.
func legalBasisText(raw []json.RawMessage) []string {
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		var s string
		if json.Unmarshal(r, &s) == nil {
			out = append(out, s)
			continue
		}
		var o struct {
			Law     string `json:"law"`
			Article string `json:"article"`
			Text    string `json:"text"`
		}
		if json.Unmarshal(r, &o) == nil && (o.Law != "" || o.Article != "") {
			out = append(out, strings.TrimSpace(o.Law+" "+o.Article))
			continue
		}
		out = append(out, string(r))
	}
	return out
}
