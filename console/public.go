package console

import (
	"net/http"
	"time"

	"github.com/liuhen/liuhen/projections/public"
)

type publicData struct {
	Page  *public.Page
	Note  string
	Next  string
	First bool
}

// publicPage is the public disclosure feed (公示), redacted as the API
// serves it, for anyone: it is read without a token even when a user is
// signed in, so it never shows more than the public sees.
func (c *Console) publicPage(w http.ResponseWriter, r *http.Request, s *session) error {
	cur := r.URL.Query().Get("cursor")
	var p public.Page
	d := publicData{First: cur == ""}
	switch err := c.getJSON(r, nil, "/v1/public/decisions"+queryOf("limit", "20", "cursor", cur), &p); {
	case err == nil:
		d.Page = &p
		if p.Next != "" {
			d.Next = queryOf("cursor", p.Next)
		}
	case missing(err):
		d.Note = "暂无数据"
	default:
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	c.render(w, r, s, http.StatusOK, "public", d)
	return nil
}

type devicesData struct {
	Devices    []deviceStats
	Note       string
	LateUpload time.Duration
	Now        time.Time
}

func (c *Console) devicesPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d := devicesData{LateUpload: c.cfg.LateUpload, Now: c.cfg.Now()}
	if c.index == nil {
		d.Note = "暂无数据"
	} else {
		ds, err := c.index.deviceList()
		if err != nil {
			return err
		}
		d.Devices = ds
	}
	c.render(w, r, s, http.StatusOK, "devices", d)
	return nil
}
