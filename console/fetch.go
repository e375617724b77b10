package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// The console reads everything through the API, in process, with the
// signed-in user's own bearer token: roles are enforced in one place (the
// API), and a piece that is not mounted yet (say, the findings endpoint)
// answers 404, which the pages show as 暂无数据.

// apiError is an API answer that was not a success, with its problem.
type apiError struct {
	Status int
	Code   string
	Detail string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("API %d %s: %s", e.Status, e.Code, e.Detail)
}

// missing reports whether err means "no data here": the endpoint is not
// mounted, or the thing is not found.
func missing(err error) bool {
	ae, ok := err.(*apiError)
	return ok && ae.Status == http.StatusNotFound
}

// denied reports whether err is the API refusing the user's role.
func denied(err error) bool {
	ae, ok := err.(*apiError)
	return ok && (ae.Status == http.StatusForbidden || ae.Status == http.StatusUnauthorized)
}

// maxAnswer bounds an answer the console buffers (pages, JSON).
const maxAnswer = 32 << 20

// capture is an in-memory http.ResponseWriter for a sub-request.
type capture struct {
	status int
	header http.Header
	body   bytes.Buffer
	over   bool
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) WriteHeader(s int) {
	if c.status == 0 {
		c.status = s
	}
}
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.body.Len()+len(b) > maxAnswer {
		c.over = true
		return 0, fmt.Errorf("console: API answer over %d bytes", maxAnswer)
	}
	return c.body.Write(b)
}

// newSubRequest builds a request to the API for path, as the user of s
// (nil: no token), from the browser's request r.
func newSubRequest(ctx context.Context, r *http.Request, s *session, method, path string) (*http.Request, error) {
	sub, err := http.NewRequestWithContext(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	sub.RemoteAddr, sub.Host = r.RemoteAddr, r.Host
	if s != nil {
		sub.Header.Set("Authorization", "Bearer "+s.secret)
	}
	return sub, nil
}

// call makes one API GET request and buffers the answer.
func (c *Console) call(r *http.Request, s *session, path string) (*capture, error) {
	return c.callMethod(r, s, http.MethodGet, path)
}

func (c *Console) callMethod(r *http.Request, s *session, method, path string) (*capture, error) {
	sub, err := newSubRequest(r.Context(), r, s, method, path)
	if err != nil {
		return nil, err
	}
	w := &capture{header: http.Header{}}
	c.cfg.API.ServeHTTP(w, sub)
	if w.over {
		return nil, fmt.Errorf("console: %s %s: answer too large", method, path)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status/100 != 2 {
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		json.Unmarshal(w.body.Bytes(), &p)
		return w, &apiError{Status: w.status, Code: p.Code, Detail: p.Detail}
	}
	return w, nil
}

// getJSON makes one API request and decodes its JSON answer into v.
func (c *Console) getJSON(r *http.Request, s *session, path string, v any) error {
	w, err := c.call(r, s, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(w.body.Bytes(), v); err != nil {
		return fmt.Errorf("console: GET %s: %v", path, err)
	}
	return nil
}

func itoa(n int64) string  { return strconv.FormatInt(n, 10) }
func utoa(n uint64) string { return strconv.FormatUint(n, 10) }
