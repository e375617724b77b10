// Package console is liuhen's web console (管理控制台), in Simplified Chinese,
// for supervisors, 法制 reviewers and auditors: the dashboard, the cases and
// their files with every entry verifiable in the browser, the compliance
// findings, the annual report, the public disclosures and the devices.
//
// # Pages
//
//	route                                   page                  who
//	GET  /                                  → /console/           anyone
//	GET  /console/login, POST …/login       登录                  anyone
//	POST /console/logout                    退出                  signed in
//	GET  /console/                          总览                  auditor reporter admin
//	GET  /console/cases                     案件                  auditor reporter admin
//	GET  /console/cases/{case_id}           案卷 (with 验证)       auditor reporter admin
//	POST /console/cases/{id}/media/{sha}    调阅 (a ticket)        auditor admin
//	GET  /console/play/{ticket}             播放                  auditor admin
//	GET  /console/media/{ticket}            the recording         auditor admin
//	POST /console/cases/{id}/export         导出证据包             auditor admin
//	GET  /console/findings                  规范性检查             auditor reporter admin
//	GET  /console/report                    年度报告               auditor reporter admin
//	GET  /console/report/figure/{figure}    明细 (drill-down)      auditor reporter admin
//	GET  /console/report/download           CSV / Markdown        auditor reporter admin
//	GET  /console/public                    公示                  anyone
//	GET  /console/devices                   设备                  auditor admin
//	GET  /console/entries/{seq}             entry bytes, for 验证  auditor admin
//	GET  /console/static/…                  CSS and JavaScript    anyone
//
// Device tokens cannot sign in.
//
// # Reading through the API
//
// The console holds no data of its own except an in-memory index of the
// ledger for the device page and the events-per-day chart. Everything else
// it reads from the HTTP API, in process, with the signed-in user's own
// token: a user sees in the console exactly what the API lets that token
// see, a role the API refuses shows "无权", and an endpoint that is not
// mounted (the findings, before the compliance rules run) shows 暂无数据.
//
// # Sessions and security
//
// Signing in with a bearer token creates a session: the cookie
// (liuhen_console, HttpOnly, SameSite=Strict, Secure over TLS, path
// /console/) holds a random id; the token stays in the server's memory and
// is re-authenticated on every request, so revoking it ends the session.
// Every state-changing request is a POST carrying the session's CSRF token
// (the sign-in form: an HMAC of a per-browser cookie), and must pass
// net/http's cross-origin protection (Sec-Fetch-Site, Origin). Every answer
// carries a Content-Security-Policy that allows only the console's own
// script and style files (no inline script or style), and the templates are
// html/template, which escapes every value for its context.
//
// # 验证 in the browser
//
// static/verify.js fetches the entry's exact bytes (/console/entries/{seq},
// which is GET /v1/events/{seq} with the user's token), the signed checkpoint
// (GET /v1/checkpoint) and the inclusion proof for the checkpoint's size
// (GET /v1/proofs/inclusion), computes SHA-256(0x00 ‖ bytes) and walks the
// RFC 6962 audit path with WebCrypto, and compares the result with the
// checkpoint's root. Where the browser supports Ed25519 in WebCrypto it also
// checks the checkpoint's signature with the verifier key; the page says
// which of these were done. The server's answers are inputs, never the
// verdict.
package console
