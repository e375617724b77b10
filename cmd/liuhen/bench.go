package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
)

func init() {
	commands["bench"] = command{"drive a running server with simulated devices and report events/s and latency", runBench}
}

type benchOptions struct {
	url, adminToken string
	devices, batch  int
	duration        time.Duration
	warmup          time.Duration
	ndjson          bool
	cpuProfile      string
	drain           time.Duration
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := &benchOptions{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base `URL` of a running liuhen serve")
	fs.StringVar(&o.adminToken, "admin-token", "./data/admin.token", "`file` holding an admin token, used to create (and afterwards revoke) one device token per simulated device")
	fs.IntVar(&o.devices, "devices", 64, "concurrent simulated devices, each with its own connection and token")
	fs.IntVar(&o.batch, "batch", 1, "records per POST /v1/events (1 sends a single JSON object)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "how long to send before measuring")
	fs.BoolVar(&o.ndjson, "ndjson", false, "send batches as application/x-ndjson instead of a JSON array")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write this tool's own CPU profile (go tool pprof) to `file`")
	fs.DurationVar(&o.drain, "drain", 2*time.Minute, "after the load, how long to wait for the JetStream publisher and the read models to catch up (0: do not wait)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: liuhen bench [flags]

Drive a running server over HTTP with N concurrent simulated devices. Each
device walks through realistic cases from the event catalogue
(case.registered, case.opened, inspection.recorded, evidence.collected,
recording.made, notice.served, decision.made, document.served,
payment.received, case.closed), with increasing device.seq, and posts them
one at a time or in batches, waiting for each answer before the next.
Reports events/s and request latency percentiles (p50, p90, p99, max).

An accepted event is durable, but it is published to JetStream, and from
there reaches the read models, a little later. When the load stops, bench
reports how far behind the publisher and the read models are (GET
/v1/status), waits for them to catch up, and reports the rates they
sustained over the same time: a server that accepts faster than it
publishes shows a high events/s but a growing backlog.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if o.devices < 1 || o.batch < 1 || o.duration <= 0 {
		return errors.New("-devices, -batch and -duration must be positive")
	}
	b, err := os.ReadFile(o.adminToken)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return bench(ctx, o, strings.TrimSpace(string(b)), stdout)
}

type benchDevice struct {
	id, token, tokenID string
	seq                int64
	gen                caseGen
	lat                []time.Duration // measured requests only
	events, errs       int
}

func bench(ctx context.Context, o *benchOptions, admin string, stdout io.Writer) error {
	tr := &http.Transport{MaxIdleConns: o.devices * 2, MaxIdleConnsPerHost: o.devices * 2, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	defer tr.CloseIdleConnections()
	base := strings.TrimSuffix(o.url, "/")
	run := strconv.FormatInt(time.Now().Unix(), 36)

	devs := make([]*benchDevice, o.devices)
	defer func() {
		for _, d := range devs {
			if d != nil && d.tokenID != "" {
				req, _ := http.NewRequest("DELETE", base+"/v1/admin/tokens/"+d.tokenID, nil)
				req.Header.Set("Authorization", "Bearer "+admin)
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
	}()
	for i := range devs {
		d := &benchDevice{id: fmt.Sprintf("BENCH-%s-%04d", run, i)}
		body, _ := json.Marshal(map[string]string{"role": "device", "device_id": d.id, "name": "liuhen bench " + d.id})
		req, _ := http.NewRequest("POST", base+"/v1/admin/tokens", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		var tok struct{ ID, Token string }
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("creating a device token: %s %v", resp.Status, err)
		}
		d.token, d.tokenID = tok.Token, tok.ID
		d.gen = caseGen{device: d.id, officerA: fmt.Sprintf("O-%04d", 2*i), officerB: fmt.Sprintf("O-%04d", 2*i+1)}
		devs[i] = d
	}

	// CPU used per event, by the server (its process_cpu_seconds_total) and
	// by this tool, during the measured part: a figure that does not depend
	// on what else the machine is running.
	var serverCPU0, selfCPU0 float64
	var cpuOnce sync.Once
	var status0 benchStatus
	var status0At time.Time
	var status0Err error
	markCPU := func() {
		serverCPU0, selfCPU0 = serverCPU(client, base), selfCPU()
		status0At = time.Now()
		status0, status0Err = readStatus(client, base, admin)
	}

	var measuring atomic.Bool
	start := time.Now()
	measureFrom := start.Add(o.warmup)
	end := measureFrom.Add(o.duration)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[string]
	for _, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for ctx.Err() == nil {
				now := time.Now()
				if now.After(end) {
					return
				}
				buf.Reset()
				ct := "application/json"
				switch {
				case o.batch == 1:
					d.gen.next(&buf, &d.seq)
				case o.ndjson:
					ct = "application/x-ndjson"
					for range o.batch {
						d.gen.next(&buf, &d.seq)
						buf.WriteByte('\n')
					}
				default:
					buf.WriteByte('[')
					for k := range o.batch {
						if k > 0 {
							buf.WriteByte(',')
						}
						d.gen.next(&buf, &d.seq)
					}
					buf.WriteByte(']')
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/events", bytes.NewReader(buf.Bytes()))
				req.Header.Set("Authorization", "Bearer "+d.token)
				req.Header.Set("Content-Type", ct)
				t0 := time.Now()
				resp, err := client.Do(req)
				var accepted int
				if err == nil {
					accepted, err = countAccepted(resp)
				}
				lat := time.Since(t0)
				if !t0.Before(measureFrom) {
					cpuOnce.Do(markCPU)
					measuring.Store(true)
					d.lat = append(d.lat, lat)
					d.events += accepted
					if err != nil {
						d.errs++
					}
				}
				if err != nil {
					s := err.Error()
					firstErr.CompareAndSwap(nil, &s)
				}
			}
		}()
	}
	wg.Wait()
	serverCPU1, selfCPU1 := serverCPU(client, base), selfCPU()
	elapsed := min(time.Since(measureFrom), o.duration)
	if !measuring.Load() {
		return errors.New("nothing was measured; raise -duration")
	}

	var lat []time.Duration
	var events, errs int
	for _, d := range devs {
		lat = append(lat, d.lat...)
		events += d.events
		errs += d.errs
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Fprintf(stdout, "liuhen bench: %d devices, %d records/request, %s measured after %s warm-up\n",
		o.devices, o.batch, o.duration, o.warmup)
	fmt.Fprintf(stdout, "  requests   %d (%.0f/s), errors %d\n", len(lat), float64(len(lat))/elapsed.Seconds(), errs)
	fmt.Fprintf(stdout, "  events     %d accepted, %.0f events/s\n", events, float64(events)/elapsed.Seconds())
	fmt.Fprintf(stdout, "  latency    p50 %s  p90 %s  p99 %s  max %s\n",
		round(pct(.50)), round(pct(.90)), round(pct(.99)), round(lat[len(lat)-1]))
	if events > 0 && serverCPU0 > 0 {
		fmt.Fprintf(stdout, "  cpu/event  server %.0f µs, bench %.0f µs (CPU-bound ceiling on %d cores: %.0f events/s)\n",
			(serverCPU1-serverCPU0)/float64(events)*1e6, (selfCPU1-selfCPU0)/float64(events)*1e6, runtime.NumCPU(),
			float64(runtime.NumCPU())*float64(events)/(serverCPU1-serverCPU0+selfCPU1-selfCPU0))
	}
	if p := firstErr.Load(); p != nil {
		fmt.Fprintf(stdout, "  first error: %s\n", *p)
	}
	if status0Err != nil {
		fmt.Fprintf(stdout, "  backlog    not measured: %v\n", status0Err)
		return nil
	}
	return drain(ctx, client, base, admin, o.drain, status0, status0At, stdout)
}

// benchStatus is what bench reads of GET /v1/status.
type benchStatus struct {
	Size      uint64 `json:"size"`
	Publisher *struct {
		Position uint64 `json:"position"`
	} `json:"publisher"`
	Projections map[string]struct {
		Position uint64 `json:"position"`
	} `json:"projections"`
}

func readStatus(client *http.Client, base, token string) (benchStatus, error) {
	var st benchStatus
	req, _ := http.NewRequest("GET", base+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /v1/status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// readModels is the position of the read model furthest behind, and
// whether the server has any.
func (s benchStatus) readModels() (uint64, bool) {
	pos, found := uint64(0), false
	for _, p := range s.Projections {
		if !found || p.Position < pos {
			pos, found = p.Position, true
		}
	}
	return pos, found
}

// drain reports the publisher's and the read models' backlog once the load
// has stopped, waits up to limit for each to reach the ledger's size, and
// reports the rate each sustained from the start of the measurement (at
// start, status s0) until it caught up.
func drain(ctx context.Context, client *http.Client, base, token string, limit time.Duration, s0 benchStatus, start time.Time, stdout io.Writer) error {
	stopped := time.Now()
	s, err := readStatus(client, base, token)
	if err != nil {
		fmt.Fprintf(stdout, "  backlog    not measured: %v\n", err)
		return nil
	}
	rm0, hasRM := s0.readModels()
	rm, _ := s.readModels()
	if s.Publisher == nil || s0.Publisher == nil {
		fmt.Fprintf(stdout, "  backlog    the server publishes nothing (no relay)\n")
		return nil
	}
	line := fmt.Sprintf("  backlog    when the load stopped, of %d entries: publisher %d behind", s.Size, s.Size-min(s.Publisher.Position, s.Size))
	if hasRM {
		line += fmt.Sprintf(", read models %d behind", s.Size-min(rm, s.Size))
	}
	fmt.Fprintln(stdout, line)
	if limit <= 0 {
		return nil
	}
	var pubAt, rmAt time.Time
	deadline := stopped.Add(limit)
	for {
		now := time.Now()
		if pubAt.IsZero() && s.Publisher.Position >= s.Size {
			pubAt = now
		}
		if rm, _ := s.readModels(); rmAt.IsZero() && (!hasRM || rm >= s.Size) {
			rmAt = now
		}
		if !pubAt.IsZero() && !rmAt.IsZero() || now.After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if s, err = readStatus(client, base, token); err != nil {
			return err
		}
	}
	report := func(what string, from uint64, at time.Time) {
		if at.IsZero() {
			fmt.Fprintf(stdout, "  %-10s still behind %s after the load stopped\n", what, round(limit))
			return
		}
		fmt.Fprintf(stdout, "  %-10s caught up %s after the load stopped: %.0f events/s sustained over the measurement and the catch-up\n",
			what, round(at.Sub(stopped)), float64(s.Size-min(from, s.Size))/at.Sub(start).Seconds())
	}
	report("published", s0.Publisher.Position, pubAt)
	if hasRM {
		report("projected", rm0, rmAt)
	}
	return nil
}

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(10 * time.Millisecond)
	}
	if d > time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// countAccepted reads an answer of POST /v1/events and counts the records
// accepted; anything but 200 with every record accepted is an error.
func countAccepted(resp *http.Response) (int, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	n := bytes.Count(b, []byte(`"status":"accepted"`))
	if m := bytes.Count(b, []byte(`"status":`)); m != n {
		return n, fmt.Errorf("%d of %d records not accepted: %.300s", m-n, m, b)
	}
	return n, nil
}

// caseGen produces one device's records: a sequence of realistic cases, each
// a walk through the general procedure, interleaved with recordings.
type caseGen struct {
	device, officerA, officerB string
	caseID                     string
	step, cases                int
}

// benchData is the data member of the steps whose data is the same in
// every case.
var benchData = map[string]string{
	"case.registered":     `"data":{"source":"patrol","summary":"巡查发现占道经营","location":{"lat":35.49,"lon":112.85}}`,
	"inspection.recorded": `"data":{"findings":"当事人在人行道上摆摊经营水果，占用人行道约6平方米"}`,
	"evidence.collected":  `"data":{"kind":"photo","description":"现场照片3张"}`,
	"notice.served":       `"data":{"intended":{"penalties":["fine"],"fine_fen":20000},"hearing_right":false,"method":"direct"}`,
	"document.served":     `"data":{"document":"decision","method":"direct","recipient":"张某"}`,
	"case.closed":         `"data":{"reason":"执行完毕"}`,
}

var benchSteps = []string{"case.registered", "recording.made", "case.opened", "inspection.recorded", "evidence.collected",
	"notice.served", "decision.made", "document.served", "payment.received", "case.closed"}

func (g *caseGen) next(buf *bytes.Buffer, seq *int64) {
	now := time.Now().Add(-time.Minute)
	if g.step == 0 {
		g.caseID = uuid.Must(uuid.NewV7()).String()
	}
	*seq++
	g.write(buf, uuid.Must(uuid.NewV7()).String(), now, *seq)
}

// write appends the record of the generator's next step, with record id
// id, occurred at now and numbered seq by the device, and advances the
// step. It builds the record by appending rather than with fmt: the tool
// shares the machine with the server it measures. Every value it writes
// is a generated id, a number, a time or a constant, none of which JSON
// needs to escape.
func (g *caseGen) write(buf *bytes.Buffer, id string, now time.Time, seq int64) {
	typ := benchSteps[g.step]
	if g.step == 0 {
		g.cases++
	}
	g.step = (g.step + 1) % len(benchSteps)
	var tb [64]byte
	at := now.AppendFormat(tb[:0], time.RFC3339)
	str := func(s string) { buf.WriteByte('"'); buf.WriteString(s); buf.WriteByte('"') }
	num := func(n int64) { buf.Write(strconv.AppendInt(tb[len(at):len(at)], n, 10)) }
	buf.WriteString(`{"id":`)
	str(id)
	buf.WriteString(`,"type":`)
	str(typ)
	buf.WriteByte(',')
	if typ != "recording.made" {
		buf.WriteString(`"case_id":`)
		str(g.caseID)
		buf.WriteByte(',')
	}
	buf.WriteString(`"occurred_at":"`)
	buf.Write(at)
	buf.WriteString(`","device":{"id":`)
	str(g.device)
	buf.WriteString(`,"seq":`)
	num(seq)
	buf.WriteString(`},"officers":[{"id":`)
	str(g.officerA)
	buf.WriteString(`,"cert_no":"1405002019`)
	buf.WriteString(g.officerA[2:])
	buf.WriteString(`","name":"王某"},{"id":`)
	str(g.officerB)
	buf.WriteString(`,"cert_no":"1405002019`)
	buf.WriteString(g.officerB[2:])
	buf.WriteString(`","name":"李某"}],`)
	buf.WriteString(benchData[typ]) // "" for the types whose data varies
	switch typ {
	case "recording.made":
		h := sha256.Sum256([]byte(g.caseID + g.device + strconv.FormatInt(seq, 10)))
		buf.WriteString(`"data":{"started_at":"`)
		buf.Write(now.Add(-15*time.Minute).AppendFormat(tb[len(at):len(at)], time.RFC3339))
		buf.WriteString(`","ended_at":"`)
		buf.Write(at)
		buf.WriteString(`","interruptions":[]},"media":[{"sha256":"`)
		buf.WriteString(hex.EncodeToString(h[:]))
		buf.WriteString(`","size":104857600,"content_type":"video/mp4"}]`)
	case "case.opened":
		buf.WriteString(`"data":{"case_number":"晋市城管立字〔2026〕第`)
		num(int64(g.cases))
		buf.WriteString(`号","procedure":"general","category":"street_vending","parties":[{"kind":"person","name":"张某"}],"approved_by":"O-0001"}`)
	case "decision.made":
		buf.WriteString(`"data":{"outcome":"penalty","penalties":["fine"],"fine_fen":20000,"legal_basis":["《城市市容和环境卫生管理条例》第三十六条"],"document_no":"晋市城管罚字〔2026〕第`)
		num(int64(g.cases))
		buf.WriteString(`号","major":false}`)
	case "payment.received":
		buf.WriteString(`"data":{"amount_fen":20000,"receipt_no":"R`)
		num(seq)
		buf.WriteString(`"}`)
	}
	buf.WriteByte('}')
}

// serverCPU reads the server's process_cpu_seconds_total from /metrics; 0
// when it cannot.
func serverCPU(client *http.Client, base string) float64 {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// selfCPU is this process's user and system CPU time, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
