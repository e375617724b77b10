// Package demo generates a realistic year of 城管 (urban management)
// enforcement as records of the event catalogue, deterministically from a
// seed: hundreds of cases across every category, with full lifecycles
// (registration, filing, on-site inspections by two officers with body
// camera recordings, inquiries, evidence, preservation and seizure,
// notices, statements, hearings, legal reviews, collective discussion,
// decisions, service, publication, payment, deferral, reminders, court
// enforcement, forced demolition, reconsideration and lawsuits, closing and
// archiving), device clock observations, and on purpose some rule breaches
// and late uploads, so that case files, compliance findings and the annual
// report have something to show. liuhen demo and liuhen serve --demo post
// it to a server.
package demo

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/internal/jsonview"
	"github.com/liuhen/liuhen/projections/compliance"
)

// cal is the shipped working-day calendar: officers act on working days.
var cal = compliance.DefaultCalendar()

// Options shape a generated year. Zero means default.
type Options struct {
	Seed  uint64 // default 1
	Year  int    // default 2025
	Cases int    // default 300
	// Now bounds occurred_at: records that would lie after Now minus an hour
	// are not generated (a year still under way). Default time.Now.
	Now time.Time
}

// A Record is one record a device posts.
type Record struct {
	Raw    []byte    // the record's JSON
	Device string    // device.id
	At     time.Time // occurred_at
	Late   bool      // the device synced it weeks later: posted after the rest
	Media  []Media
}

// Media is a file a record references.
type Media struct {
	SHA256      string
	ContentType string
	Data        []byte
	Late        bool // uploaded after every record
	Missing     bool // never uploaded
}

// A Year is the generated records, in posting order: by occurred_at, late
// ones last.
type Year struct {
	Records  []Record
	Cases    int
	Breaches []string // each deliberate rule breach, for the summary
}

const zone = 8 * 3600

var cst = time.FixedZone("CST", zone)

type gen struct {
	rng      *rand.Rand
	year     int
	now      time.Time
	recs     []Record
	breaches []string
	dseq     map[string]int64
	last     time.Time // the latest occurred_at of the current case
}

// Generate returns the year described by o.
func Generate(o Options) *Year {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Year == 0 {
		o.Year = 2025
	}
	if o.Cases == 0 {
		o.Cases = 300
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	g := &gen{rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x6c697568656e)), year: o.Year, now: o.Now.Add(-time.Hour), dseq: map[string]int64{}}
	start := time.Date(o.Year, 1, 2, 0, 0, 0, 0, cst)
	for i := range o.Cases {
		day := start.AddDate(0, 0, g.rng.IntN(330))
		g.kase(i, g.workTime(day))
	}
	// Clock observations: each body camera, at each monthly docking.
	for m := range 12 {
		for d := range 8 {
			at := g.workTime(time.Date(o.Year, time.Month(m+1), 1+g.rng.IntN(27), 0, 0, 0, 0, cst))
			off := int64(g.rng.IntN(4000)) - 2000
			if d == 5 && m == 6 {
				off = 263000 // a camera whose clock ran 4 minutes fast
			}
			dev := camera(d)
			g.emit(at, dev, "device.clock_observed", "", nil, map[string]any{
				"device_time": at.Add(time.Duration(off) * time.Millisecond).Format(time.RFC3339Nano),
				"server_time": at.Format(time.RFC3339Nano), "offset_ms": off}, nil)
		}
	}
	// device.seq in capture order, so that late records show as gaps filled
	// later. A device's first record is never late: the server cannot tell
	// a late first record from a repeated number.
	sort.SliceStable(g.recs, func(i, j int) bool { return g.recs[i].At.Before(g.recs[j].At) })
	for i := range g.recs {
		r := &g.recs[i]
		if g.dseq[r.Device] == 0 {
			r.Late = false
		}
		g.dseq[r.Device]++
		var m map[string]any
		json.Unmarshal(r.Raw, &m)
		m["device"] = map[string]any{"id": r.Device, "seq": g.dseq[r.Device]}
		r.Raw, _ = json.Marshal(m)
	}
	// Posted by occurred_at, late ones last.
	sort.SliceStable(g.recs, func(i, j int) bool { return !g.recs[i].Late && g.recs[j].Late })
	return &Year{Records: g.recs, Cases: o.Cases, Breaches: g.breaches}
}

func camera(i int) string   { return fmt.Sprintf("ZFY-140500-%04d", i+1) }
func terminal(i int) string { return fmt.Sprintf("YDZF-140500-%02d", i+1) }

const (
	legalOffice = "FZ-140500-01" // 法制科
	finance     = "CW-140500-01" // 财务
	litigation  = "SF-140500-01" // 法规诉讼
)

type officer struct{ id, cert, name string }

var officers = []officer{
	{"O-0012", "14050020190012", "王建国"}, {"O-0031", "14050020190031", "李秀英"},
	{"O-0044", "14050020200044", "赵伟"}, {"O-0057", "14050020200057", "孙芳"},
	{"O-0063", "14050020210063", "周磊"}, {"O-0078", "14050020210078", "吴静"},
	{"O-0081", "14050020180081", "郑强"}, {"O-0095", "14050020180095", "冯敏"},
	{"O-0102", "14050020220102", "陈刚"}, {"O-0117", "14050020220117", "杨丽"},
	{"O-0123", "14050020190123", "黄涛"}, {"O-0134", "14050020190134", "何燕"},
	{"O-0146", "14050020230146", "高翔"}, {"O-0158", "14050020230158", "林娜"},
	{"O-0160", "14050020170160", "罗斌"}, {"O-0171", "14050020170171", "梁红"},
}

const (
	director = "O-0001" // 局长, approves filings and measures
	reviewer = "O-0088" // 法制审核 (not an investigator)
	chair    = "O-0090" // 听证主持人 (not an investigator)
)

func (o officer) json() map[string]any {
	return map[string]any{"id": o.id, "cert_no": o.cert, "name": o.name}
}

// workTime puts a time during working hours on day, or on the first
// working day after it if day is a rest day or a public holiday. (Moving a
// day later to the next working day never breaks a deadline the day met:
// a deadline ending on a day off moves with it.)
func (g *gen) workTime(day time.Time) time.Time {
	y, m, d := cal.OnWorkingDay(day.In(cst)).Date()
	return time.Date(y, m, d, 8, 30, 0, 0, cst).Add(time.Duration(g.rng.IntN(9*3600)) * time.Second)
}

// after returns a working time lo to hi days after t, and always after t:
// a step drawn on t's own day at an earlier hour comes minutes after t.
func (g *gen) after(t time.Time, lo, hi int) time.Time {
	a := g.workTime(t.AddDate(0, 0, lo+g.rng.IntN(hi-lo+1)))
	if !a.After(t) {
		a = t.Add(time.Duration(5+g.rng.IntN(55)) * time.Minute)
	}
	return a
}

func (g *gen) id() string {
	var u [16]byte
	for i := range u {
		u[i] = byte(g.rng.UintN(256))
	}
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	s := hex.EncodeToString(u[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// media makes a file of kind "video", "photo" or "audio" with seeded bytes.
func (g *gen) media(kind string, at time.Time) Media {
	var head []byte
	ct := "video/mp4"
	n := 4096 + g.rng.IntN(12288)
	switch kind {
	case "photo":
		head, ct, n = []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, "image/jpeg", 1024+g.rng.IntN(3072)
	case "audio":
		head, ct = []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), "audio/mpeg"
	default:
		head = []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
	}
	b := make([]byte, n)
	copy(b, head)
	for i := len(head); i < n; i += 8 {
		v := g.rng.Uint64()
		for j := i; j < min(i+8, n); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	stamp := []byte(at.Format(time.RFC3339))
	copy(b[len(head):], stamp)
	m := Media{ContentType: ct, Data: b}
	m.SHA256 = sha256hex(b)
	switch r := g.rng.IntN(100); {
	case r < 2:
		m.Missing = true
	case r < 12:
		m.Late = true
	}
	return m
}

// emit adds a record; caseID "" means none. It returns the record's id.
func (g *gen) emit(at time.Time, dev, typ, caseID string, offs []officer, data map[string]any, media []Media) string {
	if at.After(g.now) {
		return ""
	}
	id := g.id()
	r := map[string]any{"id": id, "type": typ, "occurred_at": at.Format(time.RFC3339), "device": map[string]any{"id": dev}}
	if caseID != "" {
		r["case_id"] = caseID
	}
	if len(offs) > 0 {
		os := make([]any, len(offs))
		for i, o := range offs {
			os[i] = o.json()
		}
		r["officers"] = os
	}
	if data != nil {
		r["data"] = data
	}
	if len(media) > 0 {
		ms := make([]any, len(media))
		for i, m := range media {
			ms[i] = map[string]any{"sha256": m.SHA256, "size": len(m.Data), "content_type": m.ContentType}
		}
		r["media"] = ms
	}
	raw, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	v, err := jsonview.Parse(raw)
	if err != nil {
		panic(err)
	}
	if err := catalog.Validate(v, g.now.Add(time.Hour), catalog.Options{}); err != nil {
		panic(fmt.Sprintf("demo: generated an invalid %s: %v\n%s", typ, err, raw))
	}
	if at.After(g.last) {
		g.last = at
	}
	late := len(dev) > 3 && dev[:3] == "ZFY" && g.rng.IntN(25) == 0
	g.recs = append(g.recs, Record{Raw: raw, Device: dev, At: at, Late: late, Media: media})
	return id
}

func (g *gen) breach(caseNo, what string) { g.breaches = append(g.breaches, caseNo+": "+what) }
