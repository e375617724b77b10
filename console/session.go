package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/liuhen/liuhen/api"
)

// Cookies. The session cookie holds only a random session id: the token's
// secret stays on the server, in memory, so that the console can call the
// API on the user's behalf. A restart signs everyone out.
const (
	sessionCookie = "liuhen_console"
	loginCookie   = "liuhen_login" // binds the sign-in form's CSRF token to this browser
	cookiePath    = "/console/"
)

// A session is one signed-in browser.
type session struct {
	key     [32]byte  // SHA-256 of the cookie value; the map key
	secret  string    // the bearer token, sent to the API on the user's behalf
	token   api.Token // as authenticated on this request
	csrf    string    // the synchronizer token of every form
	created time.Time

	seen    time.Time         // guarded by sessions.mu
	tickets map[string]ticket // media views granted by a POST; guarded by sessions.mu
}

// A ticket lets one media file be streamed for a while after the user asked
// to view it (a CSRF-checked POST naming the purpose). Every request made with
// it still goes through the API's media GET, which records custody.
type ticket struct {
	caseID, sha256, contentType, purpose string
	expires                              time.Time
}

const ticketTTL = 30 * time.Minute

type sessions struct {
	ttl, idle time.Duration
	now       func() time.Time

	mu sync.Mutex
	m  map[[32]byte]*session // guarded by mu
}

func newSessions(ttl, idle time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, idle: idle, now: now, m: map[[32]byte]*session{}}
}

func randomString() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for secret and returns the cookie value.
func (ss *sessions) create(secret string, tok api.Token) (string, *session) {
	id := randomString()
	now := ss.now()
	s := &session{key: sha256.Sum256([]byte(id)), secret: secret, token: tok, csrf: randomString(),
		created: now, seen: now, tickets: map[string]ticket{}}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, o := range ss.m {
		if ss.expired(o, now) {
			delete(ss.m, k)
		}
	}
	ss.m[s.key] = s
	return id, s
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.created) > ss.ttl || now.Sub(s.seen) > ss.idle
}

// lookup returns the live session of cookie value id, or nil.
func (ss *sessions) lookup(id string) *session {
	if id == "" {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[k]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.m, k)
		return nil
	}
	s.seen = now
	cp := *s // the request's own copy; token is refreshed on it
	return &cp
}

func (ss *sessions) remove(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, s.key)
}

func (ss *sessions) addTicket(s *session, t ticket) string {
	id := randomString()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	live := ss.m[s.key]
	if live == nil {
		return ""
	}
	now := ss.now()
	for k, o := range live.tickets {
		if now.After(o.expires) {
			delete(live.tickets, k)
		}
	}
	live.tickets[id] = t
	return id
}

func (ss *sessions) ticket(s *session, id string) (ticket, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	live := ss.m[s.key]
	if live == nil {
		return ticket{}, false
	}
	t, ok := live.tickets[id]
	if !ok || ss.now().After(t.expires) {
		return ticket{}, false
	}
	return t, true
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: cookiePath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// current returns the request's session with its token re-authenticated,
// or nil. A session whose token was revoked, or whose role may no longer
// sign in, ends here.
func (c *Console) current(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s := c.sessions.lookup(ck.Value)
	if s == nil {
		return nil
	}
	tok, ok := c.cfg.Tokens.Authenticate(s.secret)
	if !ok || tok.Role&signedIn == 0 {
		c.sessions.remove(s)
		return nil
	}
	s.token = tok
	return s
}

// checkCSRF compares the form's csrf field with the session's token.
func checkCSRF(r *http.Request, want string) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// loginToken is the sign-in form's CSRF token: an HMAC of the login cookie,
// so that another site cannot sign a browser in with its own token.
func (c *Console) loginToken(cookie string) string {
	m := hmac.New(sha256.New, c.loginKey[:])
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

type loginData struct {
	Error string
	Next  string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if s := c.current(r); s != nil {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, "", safeNext(r.URL.Query().Get("next")))
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	v := randomString()
	setCookie(w, r, loginCookie, v, 3600)
	w.Header().Set("Cache-Control", "no-store")
	c.renderWith(w, r, nil, status, "login", pageData{Title: "登录", CSRF: c.loginToken(v), Body: loginData{Error: msg, Next: next}})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	ck, err := r.Cookie(loginCookie)
	next := safeNext(r.PostFormValue("next"))
	if err != nil || !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(c.loginToken(ck.Value))) {
		c.renderLogin(w, r, http.StatusForbidden, "登录表单已过期或来源不明，请重新提交。", next)
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("token"))
	secret = strings.TrimPrefix(secret, "Bearer ")
	tok, ok := c.cfg.Tokens.Authenticate(secret)
	switch {
	case !ok:
		c.cfg.Logger.Info("console: sign-in refused", "remote", r.RemoteAddr)
		c.renderLogin(w, r, http.StatusUnauthorized, "令牌无效或已被吊销。", next)
		return
	case tok.Role&signedIn == 0:
		c.renderLogin(w, r, http.StatusForbidden, "设备令牌不能登录控制台，请使用审计员、报表员或管理员令牌。", next)
		return
	}
	id, _ := c.sessions.create(secret, tok)
	setCookie(w, r, sessionCookie, id, 0)
	setCookie(w, r, loginCookie, "", -1)
	c.cfg.Logger.Info("console: signed in", "token", tok.ID, "name", tok.Name, "role", tok.Role.String())
	if next == "" {
		next = "/console/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	s := c.current(r)
	if s != nil {
		if !checkCSRF(r, s.csrf) {
			c.render(w, r, s, http.StatusForbidden, "error", errorData{Title: "请求被拒绝", Message: "表单校验失败（CSRF），请返回页面重试。"})
			return
		}
		c.sessions.remove(s)
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/console/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") {
		return ""
	}
	return s
}

var errNotFound = errors.New("console: not found")
