// Package api is liuhen's HTTP API: how recording devices reach the ledger
// and how auditors check it without trusting the operator.
//
// # Endpoints and roles
//
// Every request carries a bearer token ("Authorization: Bearer lh_…") except
// on public endpoints. A token has one role; device tokens are bound to one
// device id. A request without a valid token gets 401, one whose role may
// not call the endpoint 403.
//
//	endpoint                               device auditor reporter admin public
//	POST   /v1/events                        x
//	GET    /v1/events?from=&limit=                  x               x
//	GET    /v1/events/{seq}                         x               x
//	GET    /v1/events/by-id/{id}                    x               x
//	GET    /v1/events/{seq}/media                   x               x
//	GET    /v1/events/{seq}/receipt          x      x       x       x     x
//	GET    /v1/cases/{case_id}/events               x               x
//	GET    /v1/devices/{device_id}/events           x               x
//	PUT    /v1/media/{sha256}                x
//	PATCH  /v1/media/{sha256}                x
//	HEAD   /v1/media/{sha256}                x      x               x
//	GET    /v1/media/{sha256}                       x               x
//	OPTIONS /v1/media/{sha256}               x      x       x       x     x
//	GET    /v1/checkpoint                    x      x       x       x     x
//	GET    /v1/checkpoints?size=             x      x       x       x     x
//	GET    /v1/proofs/inclusion?seq=&size=   x      x       x       x     x
//	GET    /v1/proofs/consistency?from=&to=  x      x       x       x     x
//	GET    /v1/verify                               x               x
//	POST   /v1/exports                              x               x
//	GET    /v1/status                               x               x
//	POST   /v1/admin/tokens                                         x
//	GET    /v1/admin/tokens                                         x
//	DELETE /v1/admin/tokens/{id}                                    x
//	GET    /healthz, /readyz, /metrics       x      x       x       x     x
//
// Other packages add endpoints (case files, reports, the public disclosure
// feed) with Server.Mount, behind the same checks. docs/openapi.yaml is the
// full reference; the tests check real answers against it.
//
// # Ingest
//
// POST /v1/events takes one JSON object, a JSON array, or NDJSON
// (application/x-ndjson), at most 1000 records and 8 MiB, each record at
// most 64 KiB. Each record is checked by ledger.ParseRecord (envelope) and
// catalog.Validate (the event catalogue), and a device token may submit only
// records whose device.id is its own. custody.accessed records are the
// server's own (see Media) and are refused from clients (server_only_type). The valid records are appended in one
// ledger call, and the request is answered only after the ledger's durable
// commit: every "accepted" or "duplicate" result is fsynced. A rejected
// record fails alone.
//
// The answer is {"results":[{"index","id","status","seq","hash","case_seq",
// "error":{"code","field","detail"},"missing_media"}]}, status one of
// accepted, duplicate, conflict, rejected. An array or NDJSON request is
// answered 200 with per-record results; a single-object request is answered
// with its record's own status (200, or a problem: 403 foreign_device, 409
// conflict, 413 too_large, 422 and the catalogue's code), the problem
// carrying the same results member.
//
// # Media
//
// Media files live in a content-addressed store named by their SHA-256
// (see mediaStore). PUT sends a file whole; PATCH resumes an upload with the
// tus 1.0.0 core protocol (HEAD tells the offset, PATCH appends at
// Upload-Offset, the first PATCH declares Upload-Length). Bytes that do not
// hash to the URL are refused with 422 hash_mismatch and nothing of them
// stays. Every GET first appends a custody.accessed entry (actor = the
// token's name, purpose = the Liuhen-Purpose header, media, time) and waits
// for it to be durable; a read that cannot be recorded is refused.
//
// # Errors
//
// Every error is application/problem+json (RFC 9457) with a stable "code";
// problemOf and codeStatus in problem.go are the one place that maps errors
// and codes to statuses.
package api
