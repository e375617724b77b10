package console

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/liuhen/liuhen/api"
)

// securityHeaders are on every answer of the console.
//
// The Content-Security-Policy allows nothing but the console's own files:
// scripts only from /console/static (no inline script, no eval), no inline
// styles (charts use SVG attributes), fetches only to the same origin, no
// frames, forms only to the console itself.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age="+itoa(int64(d/time.Second)))
		h.ServeHTTP(w, r)
	})
}

// pageData is what every page template gets.
type pageData struct {
	Title string
	Nav   string // the active menu item
	User  *user  // nil when nobody is signed in
	CSRF  string
	Body  any
}

// user is the signed-in user as the templates see it.
type user struct {
	Name, Role, RoleName string
	Reader               bool // auditor or admin: entry bytes, media, devices
}

var roleNames = map[string]string{"auditor": "审计员", "reporter": "报表员", "admin": "管理员", "device": "设备"}

func userOf(s *session) *user {
	if s == nil {
		return nil
	}
	role := s.token.Role.String()
	return &user{Name: s.token.Name, Role: role, RoleName: roleNames[role], Reader: s.token.Role&readers != 0}
}

type errorData struct {
	Title, Message string
}

// pageFunc renders one page for a request whose session (nil on public
// pages) has passed the role check. Errors it returns are rendered as an
// error page by page.
type pageFunc func(w http.ResponseWriter, r *http.Request, s *session) error

// page wraps a pageFunc with authentication: roles 0 means public. A
// visitor who is not signed in is sent to the sign-in page; a signed-in
// user whose role may not see the page gets 403.
func (c *Console) page(roles api.Role, f pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := c.current(r)
		if roles != 0 {
			if s == nil {
				if r.Method == http.MethodGet {
					http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				c.render(w, r, nil, http.StatusUnauthorized, "error", errorData{Title: "未登录", Message: "请先登录。"})
				return
			}
			if s.token.Role&roles == 0 {
				c.render(w, r, s, http.StatusForbidden, "error", errorData{Title: "无权访问",
					Message: "您的角色（" + roleNames[s.token.Role.String()] + "）无权查看此页面。"})
				return
			}
		}
		if s != nil {
			w.Header().Set("Cache-Control", "no-store")
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if s == nil || !checkCSRF(r, s.csrf) {
				c.render(w, r, s, http.StatusForbidden, "error", errorData{Title: "请求被拒绝", Message: "表单校验失败（CSRF），请返回页面重试。"})
				return
			}
		}
		if err := f(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// fail renders err as an error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var ae *apiError
	switch {
	case errors.Is(err, errNotFound):
		c.render(w, r, s, http.StatusNotFound, "error", errorData{Title: "未找到", Message: "没有这个页面或记录。"})
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
		c.render(w, r, s, http.StatusForbidden, "error", errorData{Title: "无权访问", Message: "您的令牌无权读取这些数据。"})
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		c.render(w, r, s, http.StatusNotFound, "error", errorData{Title: "未找到", Message: "没有这个记录。"})
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		c.render(w, r, s, http.StatusBadRequest, "error", errorData{Title: "参数有误", Message: ae.Detail})
	default:
		c.cfg.Logger.Error("console: page failed", "path", r.URL.Path, "err", err)
		c.render(w, r, s, http.StatusInternalServerError, "error", errorData{Title: "出错了", Message: "服务器暂时无法显示此页面，请稍后再试。"})
	}
}

// render writes a page with the common data filled in.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, body any) {
	d := pageData{User: userOf(s), Body: body}
	if s != nil {
		d.CSRF = s.csrf
	}
	c.renderWith(w, r, s, status, name, d)
}

func (c *Console) renderWith(w http.ResponseWriter, r *http.Request, s *session, status int, name string, d pageData) {
	t := c.pages[name]
	if d.Nav == "" {
		d.Nav = name
	}
	if d.Title == "" {
		d.Title = titles[name]
	}
	if d.User == nil && s != nil {
		d.User = userOf(s)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		c.cfg.Logger.Error("console: template", "page", name, "err", err)
		http.Error(w, "内部错误", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

var titles = map[string]string{
	"login": "登录", "dashboard": "总览", "cases": "案件", "case": "案卷", "findings": "规范性检查",
	"report": "年度报告", "figure": "年度报告明细", "public": "公示", "devices": "设备", "play": "调阅音像",
	"error": "出错了",
}

// parsePages parses each page with the layout into its own template set.
func parsePages(loc *time.Location) (map[string]*template.Template, error) {
	base, err := template.New("").Funcs(funcs(loc)).ParseFS(templateFS, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for name := range titles {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}
