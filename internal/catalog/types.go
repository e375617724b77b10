package catalog

import "github.com/liuhen/liuhen/internal/jsonview"

// Stage is the stage of a case a record type belongs to, named as in
// 行政处罚法 Art 47 (启动、调查取证、审核、决定、送达、执行) plus 归档 and the
// stages outside a single case.
type Stage string

// Stages, in case order.
const (
	StageFiling        Stage = "立案"   // case source and filing
	StageInvestigation Stage = "调查取证" // investigation and evidence, compulsory measures
	StageReview        Stage = "法制审核" // legal review
	StageDecision      Stage = "决定"   // discussion, notice, statements, hearing, decision
	StageService       Stage = "送达"   // service of documents
	StagePublicity     Stage = "公示"   // publication of decisions
	StageExecution     Stage = "执行"   // payment and enforcement
	StageArchive       Stage = "归档"   // closing and archiving
	StageRemedy        Stage = "救济"   // reconsideration and litigation
	StageRecording     Stage = "音像记录" // audio-video, may precede the case
	StageCustody       Stage = "证据保管" // access to stored evidence
	StageDevice        Stage = "设备"   // device housekeeping
)

// Kind is the JSON shape a field must have.
type Kind int

// Field kinds.
const (
	KindString         Kind = iota // non-empty JSON string
	KindBool                       // true or false
	KindInt                        // JSON integer ≥ Field.Min
	KindFen                        // money: JSON integer ≥ 0, in fen (分)
	KindTime                       // RFC 3339 timestamp with offset
	KindDate                       // YYYY-MM-DD, or RFC 3339 timestamp with offset
	KindEnum                       // string, one of Field.Values
	KindUUID                       // UUID string (8-4-4-4-12 hex)
	KindSHA256                     // 64 lowercase hex digits
	KindStringOrObject             // non-empty string, or an object
	KindObject                     // object with Field.Fields
	KindArray                      // array of Field.Elem, at least Field.MinItems
)

var kindNames = [...]string{
	KindString:         "string",
	KindBool:           "boolean",
	KindInt:            "integer",
	KindFen:            "integer (fen)",
	KindTime:           "timestamp",
	KindDate:           "date or timestamp",
	KindEnum:           "string (enum)",
	KindUUID:           "UUID",
	KindSHA256:         "sha256 hex",
	KindStringOrObject: "string or object",
	KindObject:         "object",
	KindArray:          "array",
}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// Field describes one field of a record's data (or of an object or array
// element inside it).
type Field struct {
	Name     string
	Kind     Kind
	Required bool
	Values   []Value // KindEnum: the allowed values
	Min      int64   // KindInt: the smallest allowed value
	MinItems int     // KindArray: the fewest elements allowed
	Elem     *Field  // KindArray: every element; Elem.Name is unused
	Fields   []Field // KindObject: the known members
}

// Type is one record type of the catalogue.
type Type struct {
	Name         string // wire name, e.g. "case.opened"
	Chinese      string // e.g. "立案"
	CaseRequired bool   // case_id must be present
	Stage        Stage
	Basis        string   // legal basis, law and article
	Fields       []Field  // data fields
	AnyOf        []string // at least one of these data fields must be present
	MediaItems   int      // the fewest media items the record must carry

	check func(rec, data jsonview.Value) *Error // cross-field rules
}

// Lookup returns the type named name.
func Lookup(name string) (Type, bool) {
	i, ok := byName[name]
	if !ok {
		return Type{}, false
	}
	return cloneType(catalogue[i]), true
}

// Types returns every type in catalogue order: the order of EVENTS.md §3,
// then the extensions beyond v1 (docs/events.md §9).
func Types() []Type {
	ts := make([]Type, len(catalogue))
	for i, t := range catalogue {
		ts[i] = cloneType(t)
	}
	return ts
}

var byName = func() map[string]int {
	m := make(map[string]int, len(catalogue))
	for i, t := range catalogue {
		m[t.Name] = i
	}
	return m
}()

func cloneType(t Type) Type {
	t.Fields = cloneFields(t.Fields)
	t.AnyOf = append([]string(nil), t.AnyOf...)
	return t
}

func cloneFields(fs []Field) []Field {
	if fs == nil {
		return nil
	}
	out := make([]Field, len(fs))
	for i, f := range fs {
		out[i] = cloneField(f)
	}
	return out
}

func cloneField(f Field) Field {
	f.Values = append([]Value(nil), f.Values...)
	f.Fields = cloneFields(f.Fields)
	if f.Elem != nil {
		e := cloneField(*f.Elem)
		f.Elem = &e
	}
	return f
}

// Field constructors keep the table below readable.

func req(name string, k Kind) Field { return Field{Name: name, Kind: k, Required: true} }
func opt(name string, k Kind) Field { return Field{Name: name, Kind: k} }

func enum(name string, vs []Value) Field {
	return Field{Name: name, Kind: KindEnum, Required: true, Values: vs}
}

func count(name string, min int64) Field {
	return Field{Name: name, Kind: KindInt, Required: true, Min: min}
}

func list(name string, minItems int, elem Field) Field {
	return Field{Name: name, Kind: KindArray, Required: true, MinItems: minItems, Elem: &elem}
}

func object(name string, fs ...Field) Field {
	return Field{Name: name, Kind: KindObject, Required: true, Fields: fs}
}

func elem(k Kind) Field            { return Field{Kind: k, Required: true} }
func enumElem(vs []Value) Field    { return Field{Kind: KindEnum, Required: true, Values: vs} }
func objectElem(fs ...Field) Field { return Field{Kind: KindObject, Required: true, Fields: fs} }
func optional(f Field) Field       { f.Required = false; return f }
func fields(fs ...Field) []Field   { return fs }
func caseType(t Type) Type         { t.CaseRequired = true; return t }
func withCheck(t Type, c func(rec, data jsonview.Value) *Error) Type {
	t.check = c
	return t
}

const (
	apl  = "行政处罚法" // Administrative Penalty Law (2021 revision)
	acl  = "行政强制法" // Administrative Compulsion Law
	g118 = "国办发〔2018〕118号"
)

// catalogue is EVENTS.md §3, in its order, then the extensions beyond v1.
// docs/events.md documents it; a test keeps the two in step.
var catalogue = []Type{
	caseType(Type{Name: "case.registered", Chinese: "案件来源登记", Stage: StageFiling,
		Basis:  apl + " Art 47 (启动); Art 54 (立案)",
		Fields: fields(enum("source", sources), req("summary", KindString))}),
	caseType(Type{Name: "case.opened", Chinese: "立案", Stage: StageFiling,
		Basis: apl + " Art 54 (立案), Art 60 (90 days from 立案), Art 36 (limitation), Art 51 (简易程序)",
		Fields: fields(
			req("case_number", KindString),
			enum("procedure", procedures),
			enum("category", categories),
			list("parties", 1, objectElem(
				enum("kind", partyKinds),
				req("name", KindString),
				opt("id_number", KindString))),
			req("approved_by", KindString),
			opt("violation_at", KindTime))}),
	caseType(Type{Name: "inspection.recorded", Chinese: "现场检查（勘验）笔录", Stage: StageInvestigation,
		Basis:  apl + " Art 42 (≥2 officers), Art 55 (show 执法证), Art 46 (evidence)",
		Fields: fields(opt("document_no", KindString), req("findings", KindString))}),
	caseType(Type{Name: "inquiry.recorded", Chinese: "询问笔录", Stage: StageInvestigation,
		Basis:  apl + " Art 42, Art 55, Art 46",
		Fields: fields(req("person", KindStringOrObject), opt("document_no", KindString))}),
	caseType(Type{Name: "evidence.collected", Chinese: "取证", Stage: StageInvestigation,
		Basis:  apl + " Art 46 (evidence types), Art 55",
		Fields: fields(enum("kind", evidenceKinds), req("description", KindString))}),
	caseType(Type{Name: "evidence.preserved", Chinese: "先行登记保存", Stage: StageInvestigation,
		Basis:  apl + " Art 56 (负责人 approval; decide within 7 days)",
		Fields: fields(list("items", 1, elem(KindStringOrObject)), req("approved_by", KindString))}),
	caseType(Type{Name: "evidence.preservation_resolved", Chinese: "先行登记保存处理决定", Stage: StageInvestigation,
		Basis:  apl + " Art 56 (within 7 days)",
		Fields: fields(req("outcome", KindString))}),
	caseType(Type{Name: "measure.imposed", Chinese: "查封 / 扣押", Stage: StageInvestigation,
		Basis: acl + " Art 18 (procedure), Art 19 (emergency, 24 h), Art 24 (决定书 + 清单), Art 25 (≤30 days)",
		Fields: fields(
			enum("kind", measureKinds),
			list("items", 1, elem(KindStringOrObject)),
			count("term_days", 1),
			req("emergency", KindBool),
			req("approved_by", KindString))}),
	caseType(Type{Name: "measure.extended", Chinese: "延长查封扣押", Stage: StageInvestigation,
		Basis:  acl + " Art 25 (≤30 more days, 负责人 approval, written reasons)",
		Fields: fields(count("extra_days", 1), req("approved_by", KindString), req("reason", KindString))}),
	caseType(Type{Name: "measure.released", Chinese: "解除查封扣押", Stage: StageInvestigation,
		Basis:  acl + " Art 28 (release, return property)",
		Fields: fields(req("reason", KindString))}),
	caseType(Type{Name: "order.issued", Chinese: "责令（限期）改正通知书", Stage: StageInvestigation,
		Basis:  apl + " Art 28 (责令改正; not in reference/domain.md, verify); document templates (domain.md §1.2 row 1a)",
		Fields: fields(req("deadline", KindDate))}),
	caseType(Type{Name: "investigation.concluded", Chinese: "调查终结报告", Stage: StageInvestigation,
		Basis:  apl + " Art 57; 住建部令55号-like rule: 调查终结报告 goes to 法制审核 [derivative]",
		Fields: fields(req("summary", KindString))}),
	caseType(Type{Name: "review.completed", Chinese: "法制审核", Stage: StageReview,
		Basis:  apl + " Art 58 (法制审核; reviewer not an investigator); " + g118,
		Fields: fields(req("reviewer", KindString), enum("result", reviewResults), opt("reasons", KindString))}),
	caseType(Type{Name: "discussion.held", Chinese: "集体讨论", Stage: StageDecision,
		Basis:  apl + " Art 57(2) (complex or major cases)",
		Fields: fields(list("attendees", 1, elem(KindStringOrObject)), req("conclusion", KindString))}),
	caseType(Type{Name: "notice.served", Chinese: "行政处罚事先告知", Stage: StageDecision,
		Basis: apl + " Art 44 (告知), Art 63–64 (听证告知)",
		Fields: fields(
			object("intended", list("penalties", 0, enumElem(penalties)), req("fine_fen", KindFen)),
			req("hearing_right", KindBool),
			enum("method", methods))}),
	caseType(Type{Name: "statement.recorded", Chinese: "陈述申辩（及复核）", Stage: StageDecision,
		Basis:  apl + " Art 45 (复核; no heavier penalty because of a defence)",
		Fields: fields(req("summary", KindString))}),
	caseType(Type{Name: "statement.waived", Chinese: "放弃陈述申辩", Stage: StageDecision,
		Basis: apl + " Art 45; deemed waived after 5 days (住建, domain.md N12)"}),
	caseType(Type{Name: "hearing.requested", Chinese: "听证申请", Stage: StageDecision,
		Basis: apl + " Art 64(1) (request within 5 days of 告知)"}),
	caseType(Type{Name: "hearing.notified", Chinese: "听证通知", Stage: StageDecision,
		Basis:  apl + " Art 64(2) (notice ≥7 days before the hearing)",
		Fields: fields(req("hearing_at", KindTime))}),
	caseType(Type{Name: "hearing.held", Chinese: "听证", Stage: StageDecision,
		Basis:  apl + " Art 64(4) (chair not an investigator), Art 65 (decide on the 听证笔录)",
		Fields: fields(req("chair", KindString))}),
	caseType(Type{Name: "decision.made", Chinese: "处罚决定 / 不予处罚 / 移送", Stage: StageDecision,
		Basis: apl + " Art 57 (outcomes), Art 58 (法制审核 first if major), Art 59 (contents), Art 60 (≤90 days)",
		Fields: fields(
			enum("outcome", outcomes),
			list("penalties", 0, enumElem(penalties)),
			req("fine_fen", KindFen),
			opt("confiscated_fen", KindFen),
			list("legal_basis", 1, elem(KindStringOrObject)),
			req("document_no", KindString),
			req("major", KindBool))}),
	caseType(Type{Name: "document.served", Chinese: "送达", Stage: StageService,
		Basis:  apl + " Art 61 (on the spot, else within 7 days under 民事诉讼法; 公告 effective after 30 days)",
		Fields: fields(enum("document", documents), enum("method", methods), req("recipient", KindStringOrObject))}),
	caseType(Type{Name: "decision.published", Chinese: "行政处罚信息公示", Stage: StagePublicity,
		Basis: apl + " Art 48; " + g118 + " (7 working days); 住建部令55号 Art 10 (7 days)",
		Fields: fields(
			optional(count("decision_seq", 0)),
			opt("document_no", KindString),
			req("channel", KindString)),
		AnyOf: []string{"decision_seq", "document_no"}}),
	caseType(Type{Name: "publication.withdrawn", Chinese: "撤下公示", Stage: StagePublicity,
		Basis:  apl + " Art 48 (withdraw within 3 days of change or revocation)",
		Fields: fields(req("reason", KindString))}),
	caseType(Type{Name: "payment.received", Chinese: "缴纳罚款", Stage: StageExecution,
		Basis:  apl + " Art 67 (15 days), Art 68–71 (on-the-spot collection), Art 72 (3%/day surcharge)",
		Fields: fields(req("amount_fen", KindFen), req("receipt_no", KindString))}),
	caseType(Type{Name: "payment.deferred", Chinese: "延期 / 分期缴纳", Stage: StageExecution,
		Basis:  apl + " Art 66 (deferral, instalments), Art 72",
		Fields: fields(req("until", KindDate), req("approved_by", KindString))}),
	caseType(Type{Name: "reminder.served", Chinese: "催告", Stage: StageExecution,
		Basis:  acl + " Art 35 (催告 contents), Art 54 (≥10 working days before applying to court)",
		Fields: fields(req("deadline", KindDate))}),
	caseType(Type{Name: "enforcement.applied", Chinese: "申请人民法院强制执行", Stage: StageExecution,
		Basis:  acl + " Art 53 (3 months), Art 54 (催告 first), Art 55 (materials)",
		Fields: fields(req("court", KindString))}),
	caseType(Type{Name: "enforcement.ruled", Chinese: "法院裁定", Stage: StageExecution,
		Basis:  acl + " Art 53–55 (court-side time limits unconfirmed)",
		Fields: fields(enum("result", rulings))}),
	caseType(Type{Name: "enforcement.executed", Chinese: "强制执行（含强制拆除）", Stage: StageExecution,
		Basis:  acl + " Art 37 (决定), Art 43 (not at night or on holidays), Art 44 (违法建筑 公告), Art 51 (代履行)",
		Fields: fields(req("kind", KindString), req("emergency", KindBool))}),
	caseType(Type{Name: "case.closed", Chinese: "结案", Stage: StageArchive,
		Basis:  apl + " Art 47 (record through 执行); 结案登记表 (document templates, domain.md §1.2 row 17)",
		Fields: fields(req("reason", KindString))}),
	caseType(Type{Name: "case.archived", Chinese: "立卷归档", Stage: StageArchive,
		Basis:  apl + " Art 47 (归档保存); 国家档案局第8号令 (永久 / 30 / 10 years)",
		Fields: fields(req("archive_no", KindString), enum("retention", retentions))}),
	caseType(Type{Name: "reconsideration.filed", Chinese: "行政复议申请", Stage: StageRemedy,
		Basis:  "行政复议: 60 days from knowing of the act (domain.md N36); " + apl + " Art 73 (no stay)",
		Fields: fields(req("body", KindString))}),
	caseType(Type{Name: "reconsideration.decided", Chinese: "行政复议决定", Stage: StageRemedy,
		Basis:  apl + " Art 48 (withdraw publication after change or revocation)",
		Fields: fields(enum("result", reconsiderationResults))}),
	caseType(Type{Name: "lawsuit.filed", Chinese: "行政诉讼立案（本机关为被告）", Stage: StageRemedy,
		Basis:  "行政诉讼: 6 months (domain.md N36); " + apl + " Art 73",
		Fields: fields(req("court", KindString))}),
	caseType(Type{Name: "lawsuit.heard", Chinese: "开庭", Stage: StageRemedy,
		Basis:  "行政诉讼法 Art 3(3) (负责人出庭应诉) [unconfirmed]",
		Fields: fields(req("responsible_person_appeared", KindBool), req("appeared", KindStringOrObject))}),
	caseType(Type{Name: "lawsuit.judged", Chinese: "判决", Stage: StageRemedy,
		Basis:  apl + " Art 48 (withdraw publication if the decision is revoked)",
		Fields: fields(req("result", KindString))}),
	withCheck(Type{Name: "recording.made", Chinese: "音像记录", Stage: StageRecording,
		Basis: apl + " Art 47 (全过程记录); " + g118 + "; " + acl + " Art 18",
		Fields: fields(
			req("started_at", KindTime),
			req("ended_at", KindTime),
			list("interruptions", 0, objectElem(
				req("from", KindTime), req("to", KindTime), req("reason", KindString)))),
		MediaItems: 1}, checkRecording),
	withCheck(caseType(Type{Name: "recording.linked", Chinese: "音像记录关联案件", Stage: StageRecording,
		Basis:  apl + " Art 47; file bound to case and event (domain.md C33)",
		Fields: fields(req("case_id", KindUUID), list("events", 1, elem(KindUUID)))}), checkLinked),
	{Name: "custody.accessed", Chinese: "调阅 / 复制 / 导出", Stage: StageCustody,
		Basis: "domain.md C34 (every access recorded); 人民法院在线诉讼规则 Art 17 (存证 process)",
		Fields: fields(req("actor", KindString), req("purpose", KindString),
			list("media", 1, elem(KindSHA256)))},
	{Name: "device.clock_observed", Chinese: "校时记录", Stage: StageDevice,
		Basis: "domain.md C35 (clock drift at ingest)",
		Fields: fields(req("device_time", KindTime), req("server_time", KindTime),
			Field{Name: "offset_ms", Kind: KindInt, Required: true, Min: minInt64})},

	// Extensions beyond catalogue v1 (docs/events.md §9): new optional
	// types that v1 devices never need to send. They come after the v1
	// types, so that v1's order stays EVENTS.md's.
	caseType(Type{Name: "case.extended", Chinese: "延长办案期限", Stage: StageInvestigation,
		Basis:  apl + " Art 60 (90 days from 立案 unless laws, regulations or rules provide otherwise; sector rules allow approved extensions, domain.md N11, C13)",
		Fields: fields(count("extra_days", 1), req("approved_by", KindString), req("reason", KindString))}),
}

const minInt64 = -1 << 63
