package bundle

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
)

// The two human-readable files are functions of the bundle's other files,
// so that the verifier can recompute them and notice any edit.

var kindNames = map[string][2]string{ // kind: 类型, 格式
	KindKey:        {"验证公钥（日志签名公钥）", "C2SP vkey 文本"},
	KindCheckpoint: {"签名检查点（Merkle 树根）", "C2SP tlog-checkpoint 签名文本"},
	KindCustody:    {"本次导出的调阅记录（custody.accessed）", "JSON Lines，原始字节"},
	KindEntries:    {"执法记录（电子数据）", "JSON Lines，原始字节"},
	KindProof:      {"包含证明", "c2sp.org/tlog-proof 文本"},
	KindMedia:      {"音像资料 / 照片 / 文书扫描件", ""},
	KindVerify:     {"验证说明", "Markdown 文本"},
	KindList:       {"电子数据清单", "Markdown 文本"},
}

// listBytes renders 电子数据清单.md from every file but the derived ones.
func (c *contents) listBytes() []byte {
	var b strings.Builder
	cd := c.cd
	b.WriteString("# 电子数据清单\n\n")
	b.WriteString("本清单由 liuhen（留痕）导出时生成，列明本证据包中的每一项电子数据、其类型、格式、大小和完整性校验值（SHA-256）。")
	b.WriteString("核对方法见 VERIFY.md；清单本身由其他文件唯一确定，改动任何一处均可被发现。\n\n")
	b.WriteString("| 项目 | 内容 |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, mdEscape(v)) }
	if cd.Scope == ScopeCase {
		row("导出范围", "单个案件（案件全部记录及其关联的音像记录）")
		row("案件标识（case_id）", cd.CaseID)
		if c.caseNumber != "" {
			row("案号", c.caseNumber)
		}
	} else {
		row("导出范围", fmt.Sprintf("整个日志的前 %d 条记录", c.n))
	}
	row("日志名称（origin）", c.origin)
	row("签名检查点", fmt.Sprintf("树大小 %d，根哈希 %s", c.cp.Size, ledger.Hex(c.cp.Root)))
	if names := cosigners(c.cp.Note, c.origin); len(names) > 0 {
		row("见证方联署（cosignature）", strings.Join(names, "、")+"（独立见证方确认该检查点延续其所见的同一日志）")
	}
	row("导出时间", beijing(c.custody.RecordedAt))
	row("导出人", cd.Actor)
	row("导出目的", cd.Purpose)
	row("导出调阅记录", fmt.Sprintf("日志第 %d 条（custody.accessed，id %s）", c.custody.Seq, c.custody.ID))
	row("记录条数", fmt.Sprint(c.n))
	b.WriteString("\n## 一、文件清单\n\n")
	b.WriteString("| 序号 | 名称 | 类型 | 格式 | 大小（字节） | 完整性校验值（SHA-256） |\n|---|---|---|---|---|---|\n")
	for i, f := range c.files {
		kn := kindNames[f.Kind]
		format := kn[1]
		if f.Kind == KindMedia {
			format = f.ContentType
		}
		typ := kn[0]
		if f.Seq != nil {
			typ = fmt.Sprintf("%s（第 %d 条记录）", typ, *f.Seq)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %d | %s |\n", i+1, mdEscape(f.Path), typ, mdEscape(format), f.Size, f.SHA256)
	}
	if len(c.entries) > 0 {
		b.WriteString("\n## 二、执法记录明细（entries.jsonl 逐行）\n\n")
		b.WriteString("| 行 | 日志序号（seq） | 记录类型 | 发生时间（occurred_at） | 叶哈希（RFC 6962） |\n|---|---|---|---|---|\n")
		for i, e := range c.entries {
			name := e.typ
			if t, ok := catalog.Lookup(e.typ); ok {
				name = t.Chinese + "（" + e.typ + "）"
			}
			fmt.Fprintf(&b, "| %d | %d | %s | %s | %s |\n", i+1, e.seq, mdEscape(name), mdEscape(e.occurredAt), ledger.Hex(e.leaf))
		}
	}
	b.WriteString("\n本清单之外，manifest.json 与 SHA256SUMS 列明包括本清单在内全部文件的 SHA-256。\n")
	return []byte(b.String())
}

// mdReplacer is built once: building one is most of the cost of a call.
var mdReplacer = strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ")

func mdEscape(s string) string { return mdReplacer.Replace(s) }

// verifyBytes renders VERIFY.md.
func (c *contents) verifyBytes() []byte {
	cd := c.cd
	var scope string
	if cd.Scope == ScopeCase {
		scope = fmt.Sprintf("the entries of case `%s` and the recordings linked to it, each with an inclusion proof in `proofs/`", cd.CaseID)
	} else {
		scope = fmt.Sprintf("the first %d entries of the log: all of them up to the checkpoint", c.n)
	}
	r := strings.NewReplacer(
		"{{scope}}", scope,
		"{{origin}}", c.origin,
		"{{size}}", fmt.Sprint(c.cp.Size),
		"{{root}}", ledger.Hex(c.cp.Root),
		"{{custody}}", fmt.Sprint(c.custody.Seq),
		"{{n}}", fmt.Sprint(cd.Entries),
		"{{time}}", c.custody.RecordedAt.Format(time.RFC3339),
	)
	t := verifyTemplate
	if names := cosigners(c.cp.Note, c.origin); len(names) > 0 {
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = "`" + n + "`"
		}
		w := strings.NewReplacer("{{witnesses}}", strings.Join(quoted, ", "), "{{first}}", names[0]).Replace(verifyWitnesses)
		t = strings.Replace(t, verifyStep3, w+verifyStep3, 1)
	}
	if cd.Scope == ScopeCase {
		t += verifyCase
	} else {
		t += verifyAll
	}
	return []byte(r.Replace(t + verifyEnd))
}

// cosigners returns the names of the signatures on a checkpoint note other
// than the log's own (origin): its witnesses, in the note's order.
func cosigners(note []byte, origin string) []string {
	_, sigs, ok := strings.Cut(string(note), "\n\n")
	if !ok {
		return nil
	}
	var names []string
	for line := range strings.Lines(sigs) {
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, " ")
		if name != origin && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// verifyStep3 begins step 3 of VERIFY.md; a witnessed checkpoint's section
// goes before it.
const verifyStep3 = "## 3. Each entry's leaf hash\n\n"

// verifyWitnesses is VERIFY.md's section on a checkpoint's cosignatures.
const verifyWitnesses = "### The witnesses' cosignatures\n\n" +
	"`checkpoint.txt` also carries the cosignatures of the witnesses {{witnesses}}. A witness cosigns a\n" +
	"checkpoint only if it extends every earlier checkpoint of this log the witness saw, so that the log this\n" +
	"bundle comes from is the one the witnesses were shown too (C2SP tlog-cosignature; liuhen's\n" +
	"`docs/operations.md`, \"Witnesses\"). `liuhen verify --bundle FILE --key log.vkey --witness-policy POLICY`\n" +
	"checks them against the witnesses you trust. By hand, for the witness `{{first}}`, whose cosignature\n" +
	"key (a vkey line, from the witness, not from this bundle) is in `witness.vkey`:\n\n" +
	"```sh\ncut -d+ -f3- witness.vkey | base64 -d | tail -c 32 > wpub.raw\n" +
	"{ printf '\\060\\052\\060\\005\\006\\003\\053\\145\\160\\003\\041\\000'; cat wpub.raw; } > wpub.der\n" +
	"grep \"^— {{first}} \" checkpoint.txt | head -n 1 | cut -d' ' -f3 | base64 -d > wsig.raw   # key hash, time, signature\n" +
	"{ printf 'cosignature/v1\\ntime %d\\n' \"0x$(tail -c +5 wsig.raw | head -c 8 | xxd -p)\"; head -n 3 checkpoint.txt; } > wbody.txt\n" +
	"tail -c 64 wsig.raw > wsig.bin\n" +
	"openssl pkeyutl -verify -pubin -keyform DER -inkey wpub.der -rawin -in wbody.txt -sigfile wsig.bin\n```\n\n" +
	"It must print `Signature Verified Successfully`; the same for each witness, with its own key.\n\n"

const verifyTemplate = "# How to verify this evidence bundle (证据包) by hand\n\n" +
	"This bundle was exported from the liuhen log `{{origin}}` at {{time}}. It holds {{scope}}.\n" +
	"Everything below needs only `sha256sum`, `base64`, `xxd`, `openssl` (1.1.1 or later) and a POSIX shell;\n" +
	"the format is specified in the liuhen sources, `docs/format.md` (entries, hashes, checkpoints) and\n" +
	"`docs/bundle.md` (this bundle). `liuhen verify --bundle FILE --key log.vkey` runs all of these checks.\n\n" +
	"## 1. Nothing was changed, added or removed\n\n" +
	"```sh\nsha256sum -c SHA256SUMS            # every file has the SHA-256 listed\nfind . -type f | sort               # no file beyond those listed (and SHA256SUMS itself)\n```\n\n" +
	"SHA256SUMS and manifest.json can be rewritten by whoever changes a file, so the next steps tie the\n" +
	"files to the log's signature.\n\n" +
	"## 2. The checkpoint is signed by the log's key\n\n" +
	"First make sure `log.vkey` is the key the agency published (compare it with the copy you got from\n" +
	"them, not from this bundle). Then check the Ed25519 signature on the checkpoint's first three lines:\n\n" +
	"```sh\ncut -d+ -f3- log.vkey | base64 -d | tail -c 32 > pub.raw\n" +
	"{ printf '\\060\\052\\060\\005\\006\\003\\053\\145\\160\\003\\041\\000'; cat pub.raw; } > pub.der\n" +
	"head -n 3 checkpoint.txt > body.txt\n" +
	"grep \"^— $(head -n 1 checkpoint.txt) \" checkpoint.txt | head -n 1 | cut -d' ' -f3 | base64 -d | tail -c 64 > sig.bin\n" +
	"openssl pkeyutl -verify -pubin -keyform DER -inkey pub.der -rawin -in body.txt -sigfile sig.bin\n```\n\n" +
	"It must print `Signature Verified Successfully`. The checkpoint says the log of `{{size}}` entries has the\n" +
	"Merkle root on its third line:\n\n" +
	"```sh\nsed -n 3p checkpoint.txt | base64 -d | xxd -p -c 32     # {{root}}\n```\n\n" +
	verifyStep3 +
	"An entry is one line of `entries.jsonl`; its leaf hash is SHA-256 of a zero byte followed by the line\n" +
	"without its newline (RFC 6962). For line 5:\n\n" +
	"```sh\nsed -n 5p entries.jsonl | tr -d '\\n' | { printf '\\000'; cat; } | sha256sum\n```\n\n" +
	"Each entry names its position `seq`, the leaf hash of the entry before it in the log (`prev`), and,\n" +
	"for a case, its position in the case (`case_seq`, 1, 2, 3, ...) and the leaf hash of the case's\n" +
	"previous entry (`case_prev`, 64 zeros for the first): a missing or changed entry breaks these links.\n\n"

const verifyCase = "## 4. Each entry is in the signed log\n\n" +
	"`proofs/<seq>.tlog-proof` (c2sp.org/tlog-proof) holds the entry's position (`index`), the audit path\n" +
	"(one base64 hash a line, bottom-up) and, after a blank line, a copy of `checkpoint.txt` (it must be\n" +
	"identical). This shell function walks the audit path (RFC 9162 §2.1.3.2) and prints the root, which\n" +
	"must equal the checkpoint's:\n\n" +
	"```sh\nroot_from_proof() {  # usage: root_from_proof ENTRY-LINE-NUMBER PROOF-FILE\n" +
	"  leaf=$(sed -n \"$1p\" entries.jsonl | tr -d '\\n' | { printf '\\000'; cat; } | sha256sum | cut -c1-64)\n" +
	"  fn=$(sed -n 's/^index //p' \"$2\"); sn=$(( {{size}} - 1 )); r=$leaf\n" +
	"  for h in $(sed -n '/^index /,/^$/p' \"$2\" | sed '1d;$d'); do\n" +
	"    p=$(printf %s \"$h\" | base64 -d | xxd -p -c 32)\n" +
	"    if [ $((fn % 2)) -eq 1 ] || [ \"$fn\" -eq \"$sn\" ]; then\n" +
	"      r=$({ printf '\\001'; printf %s \"$p$r\" | xxd -r -p; } | sha256sum | cut -c1-64)\n" +
	"      while [ $((fn % 2)) -eq 0 ] && [ \"$fn\" -ne 0 ]; do fn=$((fn / 2)); sn=$((sn / 2)); done\n" +
	"    else\n" +
	"      r=$({ printf '\\001'; printf %s \"$r$p\" | xxd -r -p; } | sha256sum | cut -c1-64)\n" +
	"    fi\n" +
	"    fn=$((fn / 2)); sn=$((sn / 2))\n" +
	"  done\n" +
	"  echo \"$r\"\n}\n" +
	"root_from_proof 1 proofs/$(printf %012d \"$(sed -n 1p entries.jsonl | sed 's/^{\"v\":1,\"seq\":\\([0-9]*\\).*/\\1/')\").tlog-proof\n```\n\n" +
	"## 5. The export itself is recorded in the log\n\n" +
	"`custody.jsonl` is the `custody.accessed` entry (seq {{custody}}) the server appended when this bundle\n" +
	"was exported: who, why, when, and `data.entries_sha256`, which must equal `sha256sum entries.jsonl`,\n" +
	"and `data.media`, the SHA-256 of that file followed by every media file in `media/`. Its proof is\n" +
	"`proofs/` + its seq, checked as in step 4 (with `custody.jsonl` in place of `entries.jsonl`).\n\n" +
	"Because every entry of the case carries `case_seq` and `case_prev`, the case's entries 1 to the last\n" +
	"exported are complete: none can be left out without breaking the chain.\n\n"

const verifyAll = "## 4. The entries make the signed root\n\n" +
	"`entries.jsonl` holds entries 0 to {{size}}-1, every one of the log up to the checkpoint. Their Merkle\n" +
	"Tree Hash (RFC 6962 §2.1: split at the largest power of two below the size, node = SHA-256 of a byte\n" +
	"1 and the two child hashes) must equal the checkpoint's root. Any RFC 6962 implementation computes\n" +
	"it from the leaf hashes of step 3; each line's `seq` must be its line number minus one and each\n" +
	"`prev` the leaf hash of the line before.\n\n" +
	"## 5. The export itself is recorded in the log\n\n" +
	"Line {{custody}}+1 of `entries.jsonl` (seq {{custody}}) is the `custody.accessed` entry the server\n" +
	"appended when this bundle was exported, also in `custody.jsonl`. Its `data.entries_sha256` must equal\n" +
	"`head -n {{n}} entries.jsonl | sha256sum`: the log as it was when the export began.\n\n"

const verifyEnd = "## 6. Media\n\n" +
	"Each file in `media/` is named by the SHA-256 of its bytes (`sha256sum media/*`) and is referenced by\n" +
	"an entry's `media` list.\n"
