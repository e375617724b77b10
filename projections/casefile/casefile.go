// Package casefile is the case-file projection (案卷): one read model per
// case with its parties, officers, stage, timeline, documents, decisions,
// amounts and late-payment surcharge (加处罚款), open deadlines and the
// recordings linked to it, served as GET /v1/cases and GET /v1/cases/{id}.
//
// # Keys
//
// All keys live under "cf/" in the projections store:
//
//	key                             value                                   written
//	cf/c/<case:16>                  first seq:8                             the case's first entry
//	cf/t/<case:16><seq:8>           the entry, as stored in the ledger      once per entry of the case
//	cf/o/<first seq:8>              Summary, JSON (and what it is made of)  once per batch that touched the case
//	cf/r/<record id:16>             the recording.made entry                recording.made
//
// <case:16> and <record id:16> are the raw 16 bytes of the UUID; <seq:8> is
// big-endian.
//
// The case file is the case's own entries: applying an entry stores its
// bytes and updates the case's list line (Summary), nothing else, so it
// costs the same however long the case is. Reading a case (Read) folds its
// entries into the File and the timeline, and brings in the recordings its
// recording.linked entries name (cf/r/), as of the snapshot read; a link
// whose recording is not there yet completes once it is. Everything that
// depends on the clock (amounts outstanding, surcharge, overdue deadlines,
// media arrival) is derived when the case is read (View), so that it is
// never stale and a calendar update needs no rebuild.
package casefile

import (
	"encoding/json"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
)

// Version is the projection's version; bump it when Apply changes.
// Version 2 stores the entries of each case and folds them when read.
const Version = 2

// Name is the projection's name.
const Name = "casefile"

// File is the case file: what the ledger says about one case, folded from
// its entries when it is read.
type File struct {
	CaseID       string            `json:"case_id"`
	CaseNumber   string            `json:"case_number,omitempty"` // 案号
	Category     string            `json:"category,omitempty"`    // catalog.Category*
	Procedure    string            `json:"procedure,omitempty"`   // general 一般程序 / simple 简易程序
	Source       string            `json:"source,omitempty"`      // 案件来源
	Summary      string            `json:"summary,omitempty"`
	Parties      []json.RawMessage `json:"parties,omitempty"` // as recorded in case.opened
	ApprovedBy   string            `json:"approved_by,omitempty"`
	ViolationAt  string            `json:"violation_at,omitempty"`
	Officers     []OfficerRef      `json:"officers"`
	Stage        catalog.Stage     `json:"stage"`
	Status       string            `json:"status"` // open, closed, archived
	RegisteredAt *time.Time        `json:"registered_at,omitempty"`
	OpenedAt     *time.Time        `json:"opened_at,omitempty"`
	ClosedAt     *time.Time        `json:"closed_at,omitempty"`
	ArchivedAt   *time.Time        `json:"archived_at,omitempty"`
	ArchiveNo    string            `json:"archive_no,omitempty"`
	Retention    string            `json:"retention,omitempty"`
	FirstAt      time.Time         `json:"first_at"` // occurred_at of the first entry
	FirstSeq     uint64            `json:"first_seq"`
	LastSeq      uint64            `json:"last_seq"`
	Entries      int               `json:"entries"`

	Documents     []Document    `json:"documents"`
	Decisions     []Decision    `json:"decisions"`
	Payments      []Payment     `json:"payments"`
	DeferredUntil *time.Time    `json:"deferred_until,omitempty"`
	Notices       []Notice      `json:"notices,omitempty"`
	Measures      []Measure     `json:"measures,omitempty"`
	Preservations []Act         `json:"preservations,omitempty"`
	Orders        []Act         `json:"orders,omitempty"`
	Reminders     []Act         `json:"reminders,omitempty"`
	Hearings      []Act         `json:"hearings,omitempty"` // notified, with hearing_at as Due
	Publications  []Publication `json:"publications,omitempty"`
	Enforcement   []Act         `json:"enforcement,omitempty"` // applications to court
	Remedies      []Act         `json:"remedies,omitempty"`    // reconsiderations and lawsuits
	Recordings    []Recording   `json:"recordings"`
}

// OfficerRef is an officer who acted in the case, with how many entries.
type OfficerRef struct {
	ID      string `json:"id,omitempty"`
	CertNo  string `json:"cert_no,omitempty"`
	Name    string `json:"name,omitempty"`
	Entries int    `json:"entries"`
}

// Document is a numbered document (文书) of the case, by document_no.
type Document struct {
	DocumentNo string    `json:"document_no"`
	Type       string    `json:"type"`
	TypeName   string    `json:"type_name"`
	Seq        uint64    `json:"seq"`
	OccurredAt time.Time `json:"occurred_at"`
}

// Decision is a decision.made (处罚决定 / 不予处罚 / 移送).
type Decision struct {
	Seq            uint64            `json:"seq"`
	Hash           string            `json:"hash"`
	DocumentNo     string            `json:"document_no"`
	Outcome        string            `json:"outcome"`
	Penalties      []string          `json:"penalties"`
	FineFen        int64             `json:"fine_fen"`
	ConfiscatedFen int64             `json:"confiscated_fen,omitempty"`
	LegalBasis     []json.RawMessage `json:"legal_basis,omitempty"`
	Major          bool              `json:"major"`
	OccurredAt     time.Time         `json:"occurred_at"`
	ServedAt       *time.Time        `json:"served_at,omitempty"` // document.served with document=decision
	PublishedAt    *time.Time        `json:"published_at,omitempty"`
	Revoked        bool              `json:"revoked,omitempty"` // by reconsideration.decided revoked
}

// Payment is a payment.received (缴纳罚款).
type Payment struct {
	Seq          uint64    `json:"seq"`
	AmountFen    int64     `json:"amount_fen"`
	SurchargeFen int64     `json:"surcharge_fen,omitempty"`
	ReceiptNo    string    `json:"receipt_no"`
	OccurredAt   time.Time `json:"occurred_at"`
}

// Notice is a notice.served (行政处罚事先告知).
type Notice struct {
	Seq          uint64    `json:"seq"`
	FineFen      int64     `json:"fine_fen"`
	HearingRight bool      `json:"hearing_right"`
	OccurredAt   time.Time `json:"occurred_at"`
	Answered     bool      `json:"answered"` // a statement, waiver or hearing request followed
}

// Measure is a measure.imposed (查封 / 扣押) with its extensions.
type Measure struct {
	Seq        uint64     `json:"seq"`
	Kind       string     `json:"kind"`
	TermDays   int        `json:"term_days"`
	ExtraDays  int        `json:"extra_days,omitempty"`
	OccurredAt time.Time  `json:"occurred_at"`
	ReleasedAt *time.Time `json:"released_at,omitempty"`
}

// Act is a step that opens a deadline and may be closed by a later one.
type Act struct {
	Seq        uint64     `json:"seq"`
	Type       string     `json:"type"`
	OccurredAt time.Time  `json:"occurred_at"`
	Deadline   string     `json:"deadline,omitempty"` // a deadline as stated in the record (date or timestamp)
	ClosedSeq  uint64     `json:"closed_seq,omitempty"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
	Result     string     `json:"result,omitempty"`
}

// Publication is a decision.published (公示) and its withdrawal.
type Publication struct {
	Seq         uint64     `json:"seq"`
	DecisionSeq *uint64    `json:"decision_seq,omitempty"`
	DocumentNo  string     `json:"document_no,omitempty"`
	Channel     string     `json:"channel"`
	OccurredAt  time.Time  `json:"occurred_at"`
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`
}

// Recording is a recording.made (音像记录), in its case from the start or
// linked later by recording.linked.
type Recording struct {
	ID            string                `json:"id"`
	Seq           uint64                `json:"seq"`
	Hash          string                `json:"hash"`
	DeviceID      string                `json:"device_id"`
	OccurredAt    string                `json:"occurred_at"`
	RecordedAt    string                `json:"recorded_at"`
	Officers      []projections.Officer `json:"officers"`
	StartedAt     string                `json:"started_at,omitempty"`
	EndedAt       string                `json:"ended_at,omitempty"`
	Interruptions int                   `json:"interruptions"`
	Media         []projections.Media   `json:"media"`
	CaseID        string                `json:"case_id,omitempty"`
	LinkedSeq     uint64                `json:"linked_seq,omitempty"` // the recording.linked entry, 0 if recorded in the case
}

// Item is one entry of a case's timeline.
type Item struct {
	Seq        uint64                `json:"seq"`
	Hash       string                `json:"hash"`
	Type       string                `json:"type"`
	TypeName   string                `json:"type_name"`
	OccurredAt string                `json:"occurred_at"`
	RecordedAt string                `json:"recorded_at"`
	DeviceID   string                `json:"device_id"`
	Officers   []projections.Officer `json:"officers"`
	Media      []MediaState          `json:"media"`
	DocumentNo string                `json:"document_no,omitempty"`
	LinkedSeq  uint64                `json:"linked_seq,omitempty"` // set on a recording linked to the case later
}

// MediaState is a media item and, when read, whether its bytes have arrived.
type MediaState struct {
	projections.Media
	Present *bool `json:"present,omitempty"`
}

// Summary is a case's line in the case list.
type Summary struct {
	CaseID     string        `json:"case_id"`
	CaseNumber string        `json:"case_number,omitempty"`
	Category   string        `json:"category,omitempty"`
	Procedure  string        `json:"procedure,omitempty"`
	Stage      catalog.Stage `json:"stage"`
	Status     string        `json:"status"`
	FirstSeq   uint64        `json:"first_seq"`
	LastSeq    uint64        `json:"last_seq"`
	Entries    int           `json:"entries"`
	OpenedAt   *time.Time    `json:"opened_at,omitempty"`
	FirstAt    time.Time     `json:"first_at"`
	ClosedAt   *time.Time    `json:"closed_at,omitempty"`
	FineFen    int64         `json:"fine_fen"`
	PaidFen    int64         `json:"paid_fen"`
	Officers   []string      `json:"officers"` // ids and cert_nos, for the officer filter
}

// Status values of a case.
const (
	StatusOpen     = "open"
	StatusClosed   = "closed"
	StatusArchived = "archived"
)
