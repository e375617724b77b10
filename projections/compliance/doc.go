// Package compliance is the rules engine (规范性检查): it checks every case
// against the statutory steps and deadlines of 行政处罚法, 行政强制法 and
// 国办发〔2018〕118号, continuously, and serves what it finds with the law
// that says so. docs/compliance.md lists the rules, their legal basis and
// their parameters.
//
// # Findings over time
//
// A finding (projections.Finding) is a rule id and check, a severity
// (violation or warning), the legal basis, a message in Chinese, the
// entries involved (seqs), and the due and actual dates where a deadline is
// concerned. It is open while the missing act can still be done (a deadline
// passed and nothing recorded yet), closed when it is settled (the act was
// late, or an act was wrong when done).
//
// Deadlines pass without an entry, so the projection does not store "what
// is found now". When an entry changes a case, the rules that read the
// entry's type are evaluated on the case and give every finding the case
// has or will have, each with the time it shows from: an act's own time,
// or a deadline's due date. A deadline that has not passed is such a
// future finding; meeting it in time removes it; meeting it late replaces
// it by a closed finding. Reading takes the clock (Config.Now) and shows
// the findings whose time has come, so the clock passing a due date brings
// its finding with no entry and no background sweep, and a decision made in
// time but uploaded late makes it go. Apply never reads a clock: the same
// entries give the same store, whatever the batching, which a rebuild
// checks byte for byte.
//
// # Keys
//
// All keys live under "cm/" in the projections store:
//
//	key                                                        value
//	cm/c/<case:16>                                             the case's state: its entries as the rules read them, and its index entries (binary, codec.go)
//	cm/l/<status:1><rule>\0<from:8><case:16><seq:8><check>    a finding the case has now (binary, codec.go); status '0' open, '1' closed
//	cm/h/<year:2><rule>\0<from:8><case:16><seq:8><check>\0<add:8>   a finding that entry add indexed and a later entry changed or removed: until, end
//	cm/r/<record id:16>                                        a recording.made: its span and interruptions, JSON
//	cm/p/<record id:16>                                        cases waiting for that recording (recording.linked first), JSON
//	cm/v/<device id>                                           the device's highest device.seq and its gaps (uvarints)
//
// <from:8> is the time the finding shows, Unix nanoseconds with the sign bit
// flipped (big-endian, so key order is time order); <seq:8> the finding's
// first entry; <year:2> the calendar year of from in the agency's zone. A
// finding without a case (a device's clock) has the zero case.
//
// The live index is ordered by status, rule and time, so the list of open
// findings of a rule reads only what it returns plus one seek past now per
// rule (findings not yet due are skipped unread). The history keeps the
// annual report reproducible as of an earlier ledger size: the findings as
// of size N are the live ones added before N and the historical ones added
// before N and ended at or after N.
//
// # Reading
//
// Handler serves GET /v1/cases/{case_id}/findings, GET /v1/findings (by
// rule, open or closed, severity; paged) and GET /v1/findings/rules.
// Projection implements casefile.Compliance (findings and rule deadlines in
// the case file) and report.Findings (the annual report's findings by rule,
// with drill-downs).
//
// # Parameters and calendar
//
// Params are the agency's JSON configuration; Calendar is China's working
// days, shipped for 2019–2026 from the State Council's notices and
// overridable year by year. Both decide what Apply writes, so the
// projection's version includes their fingerprint: changing either rebuilds
// the store while the old build serves.
package compliance
