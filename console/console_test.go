package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/bundle"
)

// TestPagesByRole checks every page for every kind of visitor: what is
// shown, what is left out, and what is refused.
func TestPagesByRole(t *testing.T) {
	st := newStack(t, stackOptions{})
	s := st.populate()
	clients := map[string]*client{"anon": st.client(), "reporter": st.login("reporter"), "auditor": st.login("auditor"), "admin": st.login("admin")}
	entry, err := st.l.EntryAt(s.first)
	if err != nil {
		t.Fatal(err)
	}
	caseA, caseB := "/console/cases/"+s.caseA, "/console/cases/"+s.caseB
	year := strconv.Itoa(s.year)
	tests := []struct {
		who, path string
		status    int
		location  string   // prefix of Location, for redirects
		want, not []string // substrings of the body
	}{
		{who: "anon", path: "/", status: 303, location: "/console/"},
		{who: "anon", path: "/console/", status: 303, location: "/console/login?next=%2Fconsole%2F"},
		{who: "anon", path: "/console/cases", status: 303, location: "/console/login"},
		{who: "anon", path: caseA, status: 303, location: "/console/login"},
		{who: "anon", path: "/console/devices", status: 303, location: "/console/login"},
		{who: "anon", path: "/console/report", status: 303, location: "/console/login"},
		{who: "anon", path: "/console/entries/0", status: 303, location: "/console/login"},
		{who: "anon", path: "/console/login", status: 200, want: []string{`type="password"`, `name="csrf"`, "行政处罚信息公示"}},
		{who: "anon", path: "/console/public", status: 200,
			want: []string{"晋市城管罚字第1号", "张某", "500.00 元", "晋城市城市管理局", `href="/console/login"`},
			not:  []string{"张三", "140502198001010011", `href="/console/cases"`}},

		{who: "reporter", path: "/console/", status: 200,
			want: []string{"最新签名检查点", "需要审计员或管理员权限", "各阶段案件", "调查取证", "查封扣押期限届满", "责令改正期限",
				"已逾期的期限", "近 30 天每日执法记录", "<svg", "报表员 李某", "规范性检查"},
			not: []string{`href="/console/devices"`, "JetStream 发布"}},
		{who: "auditor", path: "/console/", status: 200,
			want: []string{"JetStream 发布", "投影 casefile", `href="/console/devices"`, "审计员 张某", "查封扣押期限届满"}},
		{who: "reporter", path: "/console/cases", status: 200, want: []string{s.numberA, "占道经营", "一般程序", "500.00 元", "办理中"}},
		{who: "reporter", path: "/console/cases?category=street_vending", status: 200, want: []string{s.numberA}, not: []string{"第3号"}},
		{who: "reporter", path: "/console/cases?procedure=simple", status: 200, want: []string{"案号&lt;script&gt;"}, not: []string{s.numberA, "第3号"}},
		{who: "reporter", path: "/console/cases?stage=" + url.QueryEscape("调查取证"), status: 200, want: []string{"第3号"}},
		{who: "reporter", path: "/console/cases?from=yesterday", status: 200, want: []string{"筛选条件有误"}},
		{who: "reporter", path: caseA, status: 200,
			want: []string{s.numberA, "张三", "一般程序", "500.00 元", "逐条验证需要审计员或管理员权限", "导出证据包需要审计员", "已到达",
				"晋市城管罚字第1号", "《城市市容和环境卫生管理条例》第三十六条"},
			not: []string{`class="verify"`, "调阅播放", "liuhen export"}},
		{who: "auditor", path: caseA, status: 200,
			want: []string{`class="verify" data-seq="` + strconv.FormatUint(s.first, 10) + `"`, `id="verify-panel"`, "调阅播放",
				"已到达", "liuhen export --server", "--case " + s.caseA, "/console/static/verify.js",
				`value="` + strings.ReplaceAll(st.l.VerifierKey(), "+", "&#43;") + `"`}},
		{who: "admin", path: caseB, status: 200, want: []string{"未到达", "施工扬尘", "简易程序"}},
		{who: "auditor", path: "/console/cases/not-a-uuid", status: 404},
		{who: "auditor", path: "/console/cases/" + uuid.NewString(), status: 404},
		{who: "reporter", path: "/console/devices", status: 403, want: []string{"无权访问"}},
		{who: "auditor", path: "/console/devices", status: 200, want: []string{"ZFY-1", "ZFY-2", "缺 2 个", "4–5", "设备快 1.5 秒", "1 条", "最长 3 天"}},
		{who: "reporter", path: "/console/findings", status: 200, want: []string{"问题清单", "按规则统计"}},
		{who: "reporter", path: "/console/report?year=" + year, status: 200,
			want: []string{year + " 年度行政执法统计", `data-figure="decisions.penalty"`, "占道经营", "各月立案数", "签名检查点", "700.00 元",
				`id="dl-csv"`, "format=csv", "year=" + year}},
		{who: "reporter", path: "/console/report?year=abc", status: 400},
		{who: "reporter", path: "/console/report/figure/decisions.penalty?year=" + year, status: 200,
			want: []string{"作出行政处罚决定", s.caseA, "#e-" + strconv.FormatUint(s.decisionA, 10)}},
		{who: "reporter", path: "/console/report/figure/no.such.figure?year=" + year, status: 404},
		{who: "reporter", path: "/console/entries/0", status: 403},
		{who: "auditor", path: "/console/entries/" + strconv.FormatUint(s.first, 10), status: 200, want: []string{string(entry)}},
		{who: "auditor", path: "/console/entries/999999", status: 404},
		{who: "auditor", path: "/console/no-such-page", status: 404, want: []string{"未找到"}},
	}
	for _, tt := range tests {
		p := clients[tt.who].get(tt.path)
		if p.status != tt.status {
			t.Errorf("GET %s as %s = %d, want %d", tt.path, tt.who, p.status, tt.status)
			continue
		}
		if loc := p.header.Get("Location"); !strings.HasPrefix(loc, tt.location) {
			t.Errorf("GET %s as %s: Location %q, want prefix %q", tt.path, tt.who, loc, tt.location)
		}
		for _, w := range tt.want {
			if !strings.Contains(p.body, w) {
				t.Errorf("GET %s as %s: body lacks %q", tt.path, tt.who, w)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(p.body, n) {
				t.Errorf("GET %s as %s: body has %q, which this role must not see", tt.path, tt.who, n)
			}
		}
	}
	if raw := clients["auditor"].get("/console/entries/" + strconv.FormatUint(s.first, 10)); raw.body != string(entry) {
		t.Errorf("GET /console/entries/%d = %q, want the stored bytes %q", s.first, raw.body, entry)
	}
}

func TestSignIn(t *testing.T) {
	st := newStack(t, stackOptions{})
	for _, tt := range []struct {
		name, token string
		status      int
		want        string
	}{
		{"device token", st.secrets["device"], 403, "设备令牌不能登录控制台"},
		{"unknown token", "lh_not-a-token", 401, "令牌无效或已被吊销"},
		{"empty", "", 401, "令牌无效"},
	} {
		c := st.client()
		c.get("/console/login")
		p := c.post("/console/login", url.Values{"csrf": {c.csrf}, "token": {tt.token}})
		if p.status != tt.status || !strings.Contains(p.body, tt.want) {
			t.Errorf("%s: POST /console/login = %d, want %d with %q", tt.name, p.status, tt.status, tt.want)
		}
		if got := c.get("/console/"); got.status != http.StatusSeeOther {
			t.Errorf("%s: after a refused sign-in GET /console/ = %d, want 303 to the sign-in page", tt.name, got.status)
		}
	}

	// Without the sign-in form's cookie, or with another browser's form
	// token: login CSRF.
	c := st.client()
	p := c.post("/console/login", url.Values{"token": {st.secrets["auditor"]}})
	if p.status != http.StatusForbidden {
		t.Errorf("POST /console/login without the form's token = %d, want 403", p.status)
	}
	other := st.client()
	other.get("/console/login")
	c.get("/console/login")
	p = c.post("/console/login", url.Values{"csrf": {other.csrf}, "token": {st.secrets["auditor"]}})
	if p.status != http.StatusForbidden {
		t.Errorf("POST /console/login with another browser's form token = %d, want 403", p.status)
	}

	// The next page after signing in stays inside the console.
	for next, want := range map[string]string{"/console/cases": "/console/cases", "https://evil.example/": "/console/", "//evil.example/": "/console/"} {
		c := st.client()
		c.get("/console/login")
		p := c.post("/console/login", url.Values{"csrf": {c.csrf}, "token": {st.secrets["auditor"]}, "next": {next}})
		if loc := p.header.Get("Location"); p.status != http.StatusSeeOther || loc != want {
			t.Errorf("sign in with next=%q: %d to %q, want 303 to %q", next, p.status, loc, want)
		}
	}
}

func TestSessionEnds(t *testing.T) {
	st := newStack(t, stackOptions{})
	c := st.login("auditor")

	// Log out needs the session's CSRF token.
	if p := c.post("/console/logout", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("POST /console/logout without CSRF token = %d, want 403", p.status)
	}
	if p := c.get("/console/"); p.status != http.StatusOK {
		t.Fatalf("still signed in: GET /console/ = %d, want 200", p.status)
	}
	if p := c.post("/console/logout", url.Values{"csrf": {c.csrf}}); p.status != http.StatusSeeOther {
		t.Errorf("POST /console/logout = %d, want 303", p.status)
	}
	if p := c.get("/console/"); p.status != http.StatusSeeOther {
		t.Errorf("after logging out GET /console/ = %d, want 303 to the sign-in page", p.status)
	}

	// Revoking the token ends its sessions at once.
	r := st.login("reporter")
	var id string
	for _, tok := range st.tokens.List() {
		if tok.Name == "报表员 李某" {
			id = tok.ID
		}
	}
	if err := st.tokens.Revoke(id); err != nil {
		t.Fatal(err)
	}
	if p := r.get("/console/cases"); p.status != http.StatusSeeOther {
		t.Errorf("with a revoked token GET /console/cases = %d, want 303 to the sign-in page", p.status)
	}
}

func TestSecurityHeadersAndCookies(t *testing.T) {
	st := newStack(t, stackOptions{})
	s := st.populate()
	c := st.client()
	c.get("/console/login")
	p := c.post("/console/login", url.Values{"csrf": {c.csrf}, "token": {st.secrets["admin"]}})
	var session *http.Cookie
	for _, ck := range (&http.Response{Header: p.header}).Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			session = ck
		}
	}
	if session == nil {
		t.Fatalf("sign-in set no session cookie: %v", p.header["Set-Cookie"])
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/console/" {
		t.Errorf("session cookie %q: want HttpOnly, SameSite=Strict, Path=/console/", session.String())
	}
	if strings.Contains(session.Value, st.secrets["admin"]) {
		t.Errorf("the session cookie holds the token")
	}

	inline := regexp.MustCompile(`(?i)<script\b[^>]*>`)
	handlerAttr := regexp.MustCompile(`(?i)<[a-z][^>]*\s(on[a-z]+|style)\s*=`)
	for _, path := range []string{"/console/", "/console/cases", "/console/cases/" + s.caseA, "/console/cases/" + s.caseB,
		"/console/findings", "/console/report?year=" + strconv.Itoa(s.year), "/console/devices", "/console/public",
		"/console/login", "/console/nowhere"} {
		p := c.get(path)
		h := p.header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: Content-Security-Policy %q allows unsafe sources", path, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"} {
			if h.Get(k) != v {
				t.Errorf("GET %s: %s = %q, want %q", path, k, h.Get(k), v)
			}
		}
		if path != "/console/public" && path != "/console/login" && !strings.Contains(h.Get("Cache-Control"), "no-store") {
			t.Errorf("GET %s: Cache-Control %q, want no-store", path, h.Get("Cache-Control"))
		}
		for _, tag := range inline.FindAllString(p.body, -1) {
			if !strings.Contains(tag, "src=") {
				t.Errorf("GET %s: inline script %s", path, tag)
			}
		}
		if m := handlerAttr.FindString(p.body); m != "" {
			t.Errorf("GET %s: inline style or event handler %q", path, m)
		}
	}
	for path, ct := range map[string]string{"/console/static/verify.js": "javascript", "/console/static/console.css": "text/css"} {
		p := c.get(path)
		if p.status != 200 || !strings.Contains(p.header.Get("Content-Type"), ct) {
			t.Errorf("GET %s = %d %s, want 200 %s", path, p.status, p.header.Get("Content-Type"), ct)
		}
	}
}

// TestHostileStrings checks that what devices write is escaped wherever
// the console shows it, and that the user's own token name is too.
func TestHostileStrings(t *testing.T) {
	st := newStack(t, stackOptions{})
	s := st.populate()
	c := st.login("admin")
	var decisionB uint64
	for seq, raw := range st.l.Entries(0) {
		if strings.Contains(string(raw), `"decision.made"`) && strings.Contains(string(raw), s.caseB) {
			decisionB = seq
		}
	}
	escaped := `&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;`
	for _, path := range []string{"/console/", "/console/cases", "/console/cases/" + s.caseB,
		"/console/report/figure/decisions.penalty?year=" + strconv.Itoa(s.year)} {
		p := c.get(path)
		if p.status != 200 {
			t.Errorf("GET %s = %d", path, p.status)
			continue
		}
		for _, raw := range []string{`<script>alert`, `<img src=x`, `"'><img`} {
			if strings.Contains(p.body, raw) {
				t.Errorf("GET %s: the hostile string %q is in the page unescaped", path, raw)
			}
		}
		if !strings.Contains(p.body, "&lt;b&gt;赵某&lt;/b&gt;") {
			t.Errorf("GET %s: the token's name is not shown escaped", path)
		}
	}
	p := c.get("/console/cases/" + s.caseB)
	for _, want := range []string{"案号" + escaped, "摘要" + escaped, "当事人" + escaped, "文书" + escaped, "依据" + escaped,
		fmt.Sprintf(`id="e-%d"`, decisionB)} {
		if !strings.Contains(p.body, want) {
			t.Errorf("case page lacks %q", want)
		}
	}
}

// TestMediaView checks that playing a recording needs a CSRF-checked POST
// with a purpose, and that every read of the file is a custody entry.
func TestMediaView(t *testing.T) {
	st := newStack(t, stackOptions{})
	s := st.populate()
	c := st.login("auditor")
	c.get("/console/cases/" + s.caseA)
	path := "/console/cases/" + s.caseA + "/media/" + s.mediaA
	size := st.l.Head().Size

	if p := c.post(path, url.Values{"purpose": {"审查"}}); p.status != http.StatusForbidden {
		t.Errorf("POST %s without CSRF token = %d, want 403", path, p.status)
	}
	req, _ := http.NewRequest("POST", st.ts.URL+path, strings.NewReader(url.Values{"csrf": {c.csrf}, "purpose": {"审查"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := c.do(req); p.status != http.StatusForbidden {
		t.Errorf("cross-site POST %s = %d, want 403", path, p.status)
	}
	if p := c.post(path, url.Values{"csrf": {c.csrf}, "purpose": {" "}}); p.status != http.StatusBadRequest {
		t.Errorf("POST %s without a purpose = %d, want 400", path, p.status)
	}
	if got := st.l.Head().Size; got != size {
		t.Fatalf("refused requests appended %d entries", got-size)
	}

	p := c.post(path, url.Values{"csrf": {c.csrf}, "purpose": {"复核<现场>录像"}})
	play := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(play, "/console/play/") {
		t.Fatalf("POST %s = %d to %q, want 303 to /console/play/…", path, p.status, play)
	}
	p = c.get(play)
	src := "/console/media/" + strings.TrimPrefix(play, "/console/play/")
	if p.status != 200 || !strings.Contains(p.body, `<video controls preload="metadata" src="`+src+`"`) || !strings.Contains(p.body, "复核&lt;现场&gt;录像") {
		t.Fatalf("GET %s = %d, want the player for %s", play, p.status, src)
	}
	m := c.get(src)
	if m.status != 200 || m.header.Get("Content-Type") != "video/mp4" || !strings.HasPrefix(m.body, "not really an mp4") {
		t.Fatalf("GET %s = %d %s %q, want the recording", src, m.status, m.header.Get("Content-Type"), m.body)
	}
	custody, err := st.l.EntryAt(size)
	if err != nil {
		t.Fatalf("no custody entry after the view: %v", err)
	}
	var e struct {
		Type string `json:"type"`
		Data struct {
			Actor   string   `json:"actor"`
			Purpose string   `json:"purpose"`
			Media   []string `json:"media"`
		} `json:"data"`
	}
	json.Unmarshal(custody, &e)
	if e.Type != "custody.accessed" || e.Data.Actor != "审计员 张某" || e.Data.Media[0] != s.mediaA ||
		e.Data.Purpose != "控制台调阅（案卷 "+s.numberA+"）：复核<现场>录像" {
		t.Errorf("custody entry %s, want custody.accessed by 审计员 张某 with the purpose", custody)
	}
	if got := st.l.Head().Size; got != size+1 {
		t.Errorf("one view appended %d entries, want 1", got-size)
	}

	// The ticket is this session's only.
	other := st.login("admin")
	if p := other.get(src); p.status != http.StatusNotFound {
		t.Errorf("GET %s from another session = %d, want 404", src, p.status)
	}
	// A reporter may not view recordings at all.
	r := st.login("reporter")
	r.get("/console/cases/" + s.caseA)
	if p := r.post(path, url.Values{"csrf": {r.csrf}, "purpose": {"审查"}}); p.status != http.StatusForbidden {
		t.Errorf("POST %s as reporter = %d, want 403", path, p.status)
	}
}

// TestExport: an auditor downloads the case's evidence bundle from the
// case page, packed by the API (POST /v1/exports); the bytes verify
// offline against the log's key, and the export is recorded with the
// user's token and purpose. A reporter is refused, so is a form without
// its CSRF token or a purpose; nothing is recorded for them.
func TestExport(t *testing.T) {
	st := newStack(t, stackOptions{export: true})
	s := st.populate()
	c := st.login("auditor")
	page := c.get("/console/cases/" + s.caseA)
	if !strings.Contains(page.body, `id="export-button"`) || !strings.Contains(page.body, `name="purpose"`) ||
		!strings.Contains(page.body, "liuhen export --server") {
		t.Errorf("with an export endpoint the case page should offer the button, and the command as the alternative")
	}
	path := "/console/cases/" + s.caseA + "/export"
	size := st.l.Head().Size
	if p := c.post(path, url.Values{"purpose": {"审查"}}); p.status != http.StatusForbidden {
		t.Errorf("POST %s without CSRF token = %d, want 403", path, p.status)
	}
	if p := c.post(path, url.Values{"csrf": {c.csrf}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "请填写导出目的") {
		t.Errorf("POST %s without a purpose = %d, want 400 请填写导出目的", path, p.status)
	}
	r := st.login("reporter")
	if p := r.post(path, url.Values{"csrf": {r.csrf}, "purpose": {"审查"}}); p.status != http.StatusForbidden {
		t.Errorf("POST %s as reporter = %d, want 403", path, p.status)
	}
	if p := c.post("/console/cases/"+uuid.NewString()+"/export", url.Values{"csrf": {c.csrf}, "purpose": {"审查"}}); p.status != http.StatusNotFound || !strings.Contains(p.body, "未找到") {
		t.Errorf("export of an unknown case = %d, want 404 未找到", p.status)
	}
	if n := st.l.Head().Size; n != size {
		t.Errorf("refused exports wrote %d entries", n-size)
	}

	p := c.post(path, url.Values{"csrf": {c.csrf}, "purpose": {"复议答辩"}, "media": {"on"}})
	if p.status != 200 || p.header.Get("Content-Type") != "application/zip" ||
		p.header.Get("Content-Disposition") != `attachment; filename="liuhen-case-`+s.caseA+`.zip"` {
		t.Fatalf("POST %s = %d %q %q, want the bundle as an attachment", path, p.status, p.header.Get("Content-Type"), p.header.Get("Content-Disposition"))
	}
	rep := verifyBundle(t, []byte(p.body), st.l.VerifierKey())
	if rep.Case != s.caseA || rep.Media != 1 || rep.Custody == nil || rep.Custody.Actor != "审计员 张某" ||
		rep.Custody.Purpose != "控制台导出：复议答辩" || strconv.FormatUint(rep.Custody.Seq, 10) != p.header.Get("Liuhen-Custody-Seq") {
		t.Errorf("bundle report %+v, custody %+v", rep, rep.Custody)
	}
}

// TestExportWitnessed: with a witness policy, the console's bundle carries
// the witnessed checkpoint, and the policy checks it offline.
func TestExportWitnessed(t *testing.T) {
	st := newStack(t, stackOptions{export: true, witnessed: true})
	s := st.populate()
	c := st.login("auditor")
	// The dashboard says how far the witnesses have cosigned.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := c.get("/console/")
		if strings.Contains(d.body, "见证方联署") && strings.Contains(d.body, "已联署至第") && strings.Contains(d.body, "<code>witness.court.example/w1</code>") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard does not show the witnesses' cosignature:\n%s", d.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.get("/console/cases/" + s.caseA)
	p := c.post("/console/cases/"+s.caseA+"/export", url.Values{"csrf": {c.csrf}, "purpose": {"复议答辩"}})
	if p.status != 200 || p.header.Get("Content-Type") != "application/zip" {
		t.Fatalf("export = %d %q %.300s", p.status, p.header.Get("Content-Type"), p.body)
	}
	path := filepath.Join(t.TempDir(), "bundle.zip")
	if err := os.WriteFile(path, []byte(p.body), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := bundle.Verify(context.Background(), path, st.l.VerifierKey(), bundle.Options{WitnessPolicy: st.witnessPolicy})
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("the bundle against the witness policy: %v %v", rep.Problems, err)
	}
}

// verifyBundle checks a downloaded bundle offline with the bundle package,
// as liuhen verify --bundle does; it must have no problem.
func verifyBundle(t testing.TB, b []byte, vkey string) *bundle.Report {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bundle.zip")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := bundle.Verify(context.Background(), path, vkey, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Fatalf("the downloaded bundle does not verify: %v", rep.Problems)
	}
	return rep
}

func TestReportDownloads(t *testing.T) {
	st := newStack(t, stackOptions{})
	s := st.populate()
	c := st.login("reporter")
	y := strconv.Itoa(s.year)
	for format, want := range map[string]string{"csv": "字段,指标,数值,单位", "md": "|"} {
		p := c.get("/console/report/download?year=" + y + "&format=" + format)
		cd := p.header.Get("Content-Disposition")
		if p.status != 200 || !strings.Contains(p.body, want) || !strings.Contains(cd, "attachment") || !strings.Contains(cd, "annual-report-"+y+"."+format) {
			t.Errorf("download %s = %d %q, want an attachment with %q", format, p.status, cd, want)
		}
	}
	if p := c.get("/console/report/download?year=" + y + "&format=exe"); p.status != http.StatusBadRequest {
		t.Errorf("download format=exe = %d, want 400", p.status)
	}
}

// apiFindings asks the API itself for the open findings, as who.
func (st *stack) apiFindings(who, query string) []map[string]any {
	st.t.Helper()
	req, _ := http.NewRequest("GET", st.ts.URL+"/v1/findings?limit=500&"+query, nil)
	req.Header.Set("Authorization", "Bearer "+st.secrets[who])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Findings []map[string]any `json:"findings"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		st.t.Fatalf("GET /v1/findings: %d %v", resp.StatusCode, err)
	}
	return page.Findings
}

// TestFindings checks the findings page, the dashboard's counts by rule
// and the case list's badges against what the compliance rules report
// through the API.
func TestFindings(t *testing.T) {
	st := newStack(t, stackOptions{})
	s := st.populate()
	c := st.login("reporter")
	open := st.apiFindings("reporter", "open=true")
	all := st.apiFindings("reporter", "")
	if len(open) == 0 {
		t.Fatalf("the test data breaks no rule; the findings pages would show nothing")
	}
	byRule, byCase := map[string]int{}, map[string]int{}
	for _, f := range open {
		byRule[f["rule"].(string)]++
		byCase[f["case_id"].(string)]++
	}
	p := c.get("/console/findings")
	if !strings.Contains(p.body, fmt.Sprintf(`id="findings-total">%d<`, len(open))) {
		t.Errorf("findings page: total is not the API's %d open findings", len(open))
	}
	for rule := range byRule {
		if !strings.Contains(p.body, ruleName(rule)) || !strings.Contains(p.body, `/console/findings?rule=`+rule) {
			t.Errorf("findings page lacks rule %s (%s)", rule, ruleName(rule))
		}
	}
	if p := c.get("/console/findings?open=all"); !strings.Contains(p.body, fmt.Sprintf(`id="findings-total">%d<`, len(all))) {
		t.Errorf("findings page, open=all: total is not the API's %d findings", len(all))
	}
	for rule, n := range byRule {
		p := c.get("/console/findings?rule=" + rule)
		if !strings.Contains(p.body, fmt.Sprintf(`id="findings-total">%d<`, n)) {
			t.Errorf("findings page, rule=%s: total is not %d", rule, n)
		}
	}
	if p := c.get("/console/findings?severity=nonsense"); !strings.Contains(p.body, "筛选条件有误") {
		t.Errorf("findings page, severity=nonsense: no error shown")
	}
	if p := c.get("/console/"); !strings.Contains(p.body, fmt.Sprintf("共 %d 项", len(open))) {
		t.Errorf("dashboard: open findings are not the API's %d", len(open))
	}
	// The case list's badges add up to each case's open findings.
	list := c.get("/console/cases")
	badge := regexp.MustCompile(`href="/console/cases/([0-9a-f-]{36})">.*?</tr>`)
	count := regexp.MustCompile(`(违规|预警) (\d+)</span>`)
	for _, m := range badge.FindAllStringSubmatch(strings.ReplaceAll(list.body, "\n", " "), -1) {
		n := 0
		for _, b := range count.FindAllStringSubmatch(m[0], -1) {
			k, _ := strconv.Atoi(b[2])
			n += k
		}
		if n != byCase[m[1]] {
			t.Errorf("case list: case %s has badges for %d open findings, the API says %d", m[1], n, byCase[m[1]])
		}
	}
	// The case page lists its findings with their legal basis.
	for _, f := range open {
		if f["case_id"] != s.caseA {
			continue
		}
		p := c.get("/console/cases/" + s.caseA)
		if !strings.Contains(p.body, f["basis"].(string)) || !strings.Contains(p.body, "规范性检查（GET /v1/cases/{id}/findings）") {
			t.Errorf("case page lacks finding %v", f)
		}
		break
	}
}

func TestWithoutFindings(t *testing.T) {
	st := newStack(t, stackOptions{noFindings: true})
	st.populate()
	c := st.login("auditor")
	if p := c.get("/console/findings"); p.status != 200 || !strings.Contains(p.body, "暂无数据：规范性检查尚未启用") {
		t.Errorf("findings page without the compliance endpoints = %d, want 暂无数据", p.status)
	}
	if p := c.get("/console/"); p.status != 200 || !strings.Contains(p.body, "暂无数据") {
		t.Errorf("dashboard without the compliance endpoints = %d, want 暂无数据", p.status)
	}
	if p := c.get("/console/cases/" + st.seed.caseA); p.status != 200 || !strings.Contains(p.body, "来源：案卷") {
		t.Errorf("case page without the compliance endpoints = %d, want the case file's own findings", p.status)
	}
}
