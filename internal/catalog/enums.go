package catalog

import "time"

// Value is one allowed value of an enumerated field: the code on the wire and
// its Chinese name.
type Value struct {
	Code    string
	Chinese string
}

// Case categories (案件类别), data.category of case.opened.
const (
	CategoryStreetVending       = "street_vending"
	CategoryIllegalConstruction = "illegal_construction"
	CategoryOutdoorAdvertising  = "outdoor_advertising"
	CategoryConstructionWaste   = "construction_waste"
	CategoryDust                = "dust"
	CategoryWasteSorting        = "waste_sorting"
	CategorySpittingLittering   = "spitting_littering"
	CategoryGreenery            = "greenery"
	CategoryRoadOccupation      = "road_occupation"
	CategoryOther               = "other"
)

var categories = []Value{
	{CategoryStreetVending, "占道经营"},
	{CategoryIllegalConstruction, "违法建设"},
	{CategoryOutdoorAdvertising, "户外广告"},
	{CategoryConstructionWaste, "建筑垃圾/渣土"},
	{CategoryDust, "施工扬尘"},
	{CategoryWasteSorting, "生活垃圾分类"},
	{CategorySpittingLittering, "随地吐痰/乱扔"},
	{CategoryGreenery, "损毁绿化"},
	{CategoryRoadOccupation, "占用挖掘道路"},
	{CategoryOther, "其他"},
}

// Categories returns the case categories in catalogue order.
func Categories() []Value { return append([]Value(nil), categories...) }

// Case sources (案件来源), data.source of case.registered.
const (
	SourcePatrol    = "patrol"
	SourceComplaint = "complaint"
	SourceHotline   = "hotline"
	SourceReferral  = "referral"
	SourceAssigned  = "assigned"
	SourceMedia     = "media"
)

var sources = []Value{
	{SourcePatrol, "巡查"},
	{SourceComplaint, "投诉举报"},
	{SourceHotline, "12345"},
	{SourceReferral, "移送"},
	{SourceAssigned, "上级交办"},
	{SourceMedia, "媒体"},
}

// Procedures (程序), data.procedure of case.opened.
const (
	ProcedureGeneral = "general"
	ProcedureSimple  = "simple"
)

var procedures = []Value{
	{ProcedureGeneral, "一般程序"},
	{ProcedureSimple, "简易程序"},
}

// Party kinds (当事人类型), data.parties[].kind of case.opened.
const (
	PartyPerson = "person"
	PartyOrg    = "org"
)

var partyKinds = []Value{
	{PartyPerson, "自然人"},
	{PartyOrg, "法人或其他组织"},
}

// Evidence kinds (证据种类), data.kind of evidence.collected.
const (
	EvidencePhoto    = "photo"
	EvidenceVideo    = "video"
	EvidenceAudio    = "audio"
	EvidenceDocument = "document"
	EvidenceSample   = "sample"
)

var evidenceKinds = []Value{
	{EvidencePhoto, "照片"},
	{EvidenceVideo, "视频"},
	{EvidenceAudio, "录音"},
	{EvidenceDocument, "书证"},
	{EvidenceSample, "抽样"},
}

// Compulsory measure kinds (行政强制措施), data.kind of measure.imposed.
const (
	MeasureSeal  = "seal"
	MeasureSeize = "seize"
)

var measureKinds = []Value{
	{MeasureSeal, "查封"},
	{MeasureSeize, "扣押"},
}

// Legal review results (法制审核结果), data.result of review.completed.
const (
	ReviewApproved = "approved"
	ReviewReturned = "returned"
)

var reviewResults = []Value{
	{ReviewApproved, "同意"},
	{ReviewReturned, "退回"},
}

// Decision outcomes (决定结果), data.outcome of decision.made.
const (
	OutcomePenalty   = "penalty"
	OutcomeNoPenalty = "no_penalty"
	OutcomeTransfer  = "transfer"
)

var outcomes = []Value{
	{OutcomePenalty, "处罚决定"},
	{OutcomeNoPenalty, "不予处罚"},
	{OutcomeTransfer, "移送"},
}

// Penalty kinds (处罚种类), items of data.penalties (decision.made) and
// data.intended.penalties (notice.served).
const (
	PenaltyWarning      = "warning"
	PenaltyFine         = "fine"
	PenaltyConfiscation = "confiscation"
	PenaltySuspension   = "suspension"
	PenaltyRevocation   = "revocation"
	PenaltyOther        = "other"
)

var penalties = []Value{
	{PenaltyWarning, "警告"},
	{PenaltyFine, "罚款"},
	{PenaltyConfiscation, "没收"},
	{PenaltySuspension, "责令停产停业"},
	{PenaltyRevocation, "吊销"},
	{PenaltyOther, "其他"},
}

// Served documents (送达文书), data.document of document.served.
const (
	DocumentNotice   = "notice"
	DocumentDecision = "decision"
	DocumentReminder = "reminder"
	DocumentOther    = "other"
)

var documents = []Value{
	{DocumentNotice, "告知书"},
	{DocumentDecision, "决定书"},
	{DocumentReminder, "催告书"},
	{DocumentOther, "其他"},
}

// Service methods (送达方式), data.method of document.served and notice.served.
const (
	MethodDirect       = "direct"
	MethodLeft         = "left"
	MethodMail         = "mail"
	MethodElectronic   = "electronic"
	MethodPublicNotice = "public_notice"
	MethodEntrusted    = "entrusted"
)

var methods = []Value{
	{MethodDirect, "直接送达"},
	{MethodLeft, "留置送达"},
	{MethodMail, "邮寄送达"},
	{MethodElectronic, "电子送达"},
	{MethodPublicNotice, "公告送达"},
	{MethodEntrusted, "委托送达"},
}

// Court rulings on enforcement (法院裁定), data.result of enforcement.ruled.
const (
	RulingGranted = "granted"
	RulingDenied  = "denied"
)

var rulings = []Value{
	{RulingGranted, "准予执行"},
	{RulingDenied, "不予执行"},
}

// Archive retention classes (保管期限), data.retention of case.archived.
const (
	RetentionPermanent = "permanent"
	Retention30y       = "30y"
	Retention10y       = "10y"
)

var retentions = []Value{
	{RetentionPermanent, "永久"},
	{Retention30y, "30年"},
	{Retention10y, "10年"},
}

// Reconsideration results (行政复议决定), data.result of
// reconsideration.decided.
const (
	ReconsiderationUpheld           = "upheld"
	ReconsiderationChanged          = "changed"
	ReconsiderationRevoked          = "revoked"
	ReconsiderationConfirmedIllegal = "confirmed_illegal"
)

var reconsiderationResults = []Value{
	{ReconsiderationUpheld, "维持"},
	{ReconsiderationChanged, "变更"},
	{ReconsiderationRevoked, "撤销"},
	{ReconsiderationConfirmedIllegal, "确认违法"},
}

// MinorAt reports whether a party of kind (PartyOrg or a natural person)
// was under 18 at t, from what its record says, in this order: the minor
// flag, the age, the birth date, or the birth date inside an 18-digit
// resident ID number (居民身份证号码, digits 7 to 14). With none of them it
// answers false. Compliance (the minors rule) and the public feed (which
// withholds minors' decisions) decide the same way through it.
func MinorAt(kind string, minor *bool, age *int, birthDate, idNumber string, t time.Time) bool {
	if kind == PartyOrg {
		return false
	}
	if minor != nil {
		return *minor
	}
	if age != nil {
		return *age < 18
	}
	birth := birthDate
	if birth == "" && len(idNumber) == 18 {
		birth = idNumber[6:10] + "-" + idNumber[10:12] + "-" + idNumber[12:14]
	}
	b, err := time.Parse(time.DateOnly, birth)
	if err != nil {
		return false
	}
	y, m, d := t.Date()
	return time.Date(y-18, m, d, 0, 0, 0, 0, time.UTC).Before(b)
}
