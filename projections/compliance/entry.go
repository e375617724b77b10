package compliance

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/projections"
)

// What one entry says on its own (two-officers, late-upload, device
// numbering), and recordings that reach a case after it began.

// entryFindings are the checks of one entry on its own (two-officers,
// late-upload): they never change once the entry is applied.
func (p *Projection) entryFindings(tx *projections.Tx, e *projections.Entry, d *data) ([]pot, error) {
	var out []pot
	// Times in the agency's zone, so that what is derived from them is the
	// same whether the state was kept in memory or read back.
	occ, rec := e.OccurredAt.In(p.loc), e.RecordedAt.In(p.loc)
	add := func(rule, check, sev string, from time.Time, due, actual *time.Time, msg string) {
		out = append(out, pot{Finding: projections.Finding{Rule: rule, Check: check, Severity: sev,
			Basis: ruleByID[rule].Basis, Message: msg, Seqs: []uint64{e.Seq}, Due: due, Actual: actual}, From: from})
	}
	if !p.disabled[RuleTwoOfficers] && p.twoActs[e.Type] && (e.Type != "document.served" || p.serviceOnSit[d.Method]) {
		var certs []string
		for _, o := range e.Officers {
			if o.CertNo != "" && !slices.Contains(certs, o.CertNo) {
				certs = append(certs, o.CertNo)
			}
		}
		if len(certs) < p.params.TwoOfficers.Min {
			add(RuleTwoOfficers, "officers", projections.Violation, occ, nil, at(occ),
				fmt.Sprintf("%s记录的持证执法人员为%d名，少于%d名", typeName(e.Type), len(certs), p.params.TwoOfficers.Min))
		}
	}
	if p.disabled[RuleLateUpload] {
		return out, nil
	}
	up := p.params.Upload
	if delay := rec.Sub(occ); delay > time.Duration(up.MaxDelay) {
		add(RuleLateUpload, "late", projections.Warning, rec, at(occ.Add(time.Duration(up.MaxDelay))), at(rec),
			fmt.Sprintf("%s发生于%s，%s后才上传（入账于%s），超过%s", typeName(e.Type), p.minute(occ), hours(delay), p.minute(rec), hours(time.Duration(up.MaxDelay))))
	}
	if ahead := occ.Sub(rec); ahead > time.Duration(up.FutureTolerance) {
		add(RuleLateUpload, "clock-ahead", projections.Warning, rec, nil, at(rec),
			fmt.Sprintf("设备%s记录的发生时间%s晚于入账时间%s，设备时钟快%s", e.DeviceID, p.minute(occ), p.minute(rec), ahead.Round(time.Second)))
	}
	if e.Type == "device.clock_observed" {
		if off := time.Duration(d.OffsetMs) * time.Millisecond; off > time.Duration(up.MaxClockOffset) || -off > time.Duration(up.MaxClockOffset) {
			add(RuleLateUpload, "clock-offset", projections.Warning, rec, nil, at(rec),
				fmt.Sprintf("设备%s校时偏差%s，超过%s", e.DeviceID, off, time.Duration(up.MaxClockOffset)))
		}
	}
	if e.DeviceSeq >= 0 && e.DeviceID != "" {
		if err := p.deviceSeq(tx, e, rec, add); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// deviceState is what the projection keeps of a device: the highest
// device.seq seen and the seqs skipped so far, as inclusive ranges. Encoded
// as uvarints: last, then pairs.
type deviceState struct {
	Last uint64
	Gaps [][2]uint64
}

func (d *deviceState) encode() []byte {
	b := binary.AppendUvarint(make([]byte, 0, 10+20*len(d.Gaps)), d.Last)
	for _, g := range d.Gaps {
		b = binary.AppendUvarint(binary.AppendUvarint(b, g[0]), g[1])
	}
	return b
}

func decodeDevice(b []byte) (deviceState, error) {
	var d deviceState
	var vs []uint64
	for len(b) > 0 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return d, errState
		}
		vs, b = append(vs, v), b[n:]
	}
	if len(vs)%2 != 1 {
		return d, errState
	}
	d.Last = vs[0]
	for i := 1; i < len(vs); i += 2 {
		d.Gaps = append(d.Gaps, [2]uint64{vs[i], vs[i+1]})
	}
	return d, nil
}

// maxGaps bounds the ranges kept per device; the oldest are dropped.
const maxGaps = 256

// deviceSeq checks a device's sequence numbers: a skip is a finding (records
// missing); a seq at or below the highest seen is one too (going backwards,
// or repeated), unless it fills a skip: a record synced late, which
// late-upload finds by its own times.
func (p *Projection) deviceSeq(tx *projections.Tx, e *projections.Entry, rec time.Time, add func(rule, check, sev string, from time.Time, due, actual *time.Time, msg string)) error {
	// The device's state is kept decoded and written once per batch: a
	// device sends many entries of a batch.
	k := deviceKey(e.DeviceID)
	d, err := projections.Load(tx, k, func(b []byte) (*deviceState, error) {
		d, err := decodeDevice(b)
		if err != nil {
			return nil, fmt.Errorf("compliance: device %s: %v", e.DeviceID, err)
		}
		return &d, nil
	})
	if err != nil {
		return err
	}
	seq := uint64(e.DeviceSeq)
	if d == nil {
		d = &deviceState{Last: seq}
	} else {
		switch {
		case seq == d.Last+1:
			d.Last = seq
		case seq > d.Last:
			add(RuleLateUpload, "seq-gap", projections.Warning, rec, nil, at(rec),
				fmt.Sprintf("设备%s的记录序号从%d跳到%d，缺少%d条记录", e.DeviceID, d.Last, seq, seq-d.Last-1))
			d.Gaps = append(d.Gaps, [2]uint64{d.Last + 1, seq - 1})
			if len(d.Gaps) > maxGaps {
				d.Gaps = d.Gaps[len(d.Gaps)-maxGaps:]
			}
			d.Last = seq
		default:
			filled := false
			for i, g := range d.Gaps {
				if seq < g[0] || seq > g[1] {
					continue
				}
				filled = true
				var rest [][2]uint64
				if seq > g[0] {
					rest = append(rest, [2]uint64{g[0], seq - 1})
				}
				if seq < g[1] {
					rest = append(rest, [2]uint64{seq + 1, g[1]})
				}
				d.Gaps = slices.Concat(d.Gaps[:i], rest, d.Gaps[i+1:])
				break
			}
			if !filled {
				add(RuleLateUpload, "seq-backwards", projections.Warning, rec, nil, at(rec),
					fmt.Sprintf("设备%s的记录序号%d不大于此前已入账的%d，且不在缺号之中（倒退或重复）", e.DeviceID, seq, d.Last))
			}
		}
	}
	return projections.Save(tx, k, d, func(d *deviceState) ([]byte, error) { return d.encode(), nil })
}

// recordingMade remembers a recording so that a later recording.linked can
// bring it into a case, and completes links that arrived before it.
func (p *Projection) recordingMade(tx *projections.Tx, e *projections.Entry, d *data) error {
	r := d.recording(e.Seq, p.loc)
	b, _ := json.Marshal(r)
	if err := tx.Set(recKey(e.ID), b); err != nil {
		return err
	}
	pend, err := tx.Get(pendKey(e.ID))
	if err != nil || pend == nil {
		return err
	}
	var cases []uuid.UUID
	if err := json.Unmarshal(pend, &cases); err != nil {
		return fmt.Errorf("compliance: pending links: %v", err)
	}
	for _, cid := range cases {
		if cid == e.CaseID {
			continue // the recording is in that case's chain: added with it
		}
		c, err := projections.Load(tx, caseKey(cid), p.stateDecoder(cid))
		if err != nil {
			return err
		}
		if c == nil {
			continue
		}
		c.addRecording(r)
		if err := p.reindex(tx, c, cid, e.Seq, p.readers["recording.made"]); err != nil {
			return err
		}
	}
	return tx.Delete(pendKey(e.ID))
}

// link brings recording id into case c (state s), or leaves a pending link
// if the recording has not arrived yet.
func (p *Projection) link(tx *projections.Tx, s *caseState, c, id uuid.UUID) error {
	b, err := tx.Get(recKey(id))
	if err != nil {
		return err
	}
	if b == nil {
		var cases []uuid.UUID
		if pb, err := tx.Get(pendKey(id)); err != nil {
			return err
		} else if pb != nil {
			if err := json.Unmarshal(pb, &cases); err != nil {
				return err
			}
		}
		if !slices.Contains(cases, c) {
			cases = append(cases, c)
		}
		v, _ := json.Marshal(cases)
		return tx.Set(pendKey(id), v)
	}
	var r recording
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("compliance: recording: %v", err)
	}
	s.addRecording(r)
	return nil
}
