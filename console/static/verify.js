// 验证: check one ledger entry in the browser, without taking the server's
// word for it (docs/format.md §2–4, RFC 6962, C2SP tlog-checkpoint and
// signed-note).
//
//  1. GET /v1/checkpoint: the latest signed checkpoint (size, root, signature).
//  2. GET /console/entries/{seq}: the entry's exact stored bytes
//     (GET /v1/events/{seq} with the signed-in user's token).
//  3. leaf = SHA-256(0x00 || bytes); the entry must say it is entry seq.
//  4. GET /v1/proofs/inclusion?seq=&size=: the audit path; walk it
//     (RFC 9162 §2.1.3.2) and compare the root with the checkpoint's.
//  5. Where WebCrypto has Ed25519: check the checkpoint's signature with
//     the verifier key (log.vkey).
//
// The server's answers are only inputs: the leaf and root it reports in the
// proof answer are ignored.
'use strict';

(() => {
  const panel = document.getElementById('verify-panel');
  if (!panel) {
    return;
  }
  const verdict = document.getElementById('verify-verdict');
  const stepsEl = document.getElementById('verify-steps');
  const vkeyInput = document.getElementById('vkey');
  const support = document.getElementById('ed25519-support');
  const enc = new TextEncoder();

  const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join('');

  function unhex(s) {
    if (typeof s !== 'string' || !/^[0-9a-f]{64}$/.test(s)) {
      throw new Error('证明中的哈希格式错误');
    }
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) {
      out[i] = parseInt(s.substr(2 * i, 2), 16);
    }
    return out;
  }

  function unb64(s) {
    const bin = atob(s);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  function concat(parts) {
    const n = parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(n);
    let i = 0;
    for (const p of parts) {
      out.set(p, i);
      i += p.length;
    }
    return out;
  }

  async function sha256(...parts) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', concat(parts)));
  }

  const LEAF = new Uint8Array([0x00]);
  const NODE = new Uint8Array([0x01]);

  // rootFromPath computes the root of the tree of size entries from entry
  // index's leaf hash and its audit path, bottom-up (RFC 9162 §2.1.3.2).
  async function rootFromPath(index, size, leaf, path) {
    if (index >= size) {
      throw new Error('条目序号不小于检查点大小');
    }
    let fn = index;
    let sn = size - 1n;
    let r = leaf;
    for (const p of path) {
      if (sn === 0n) {
        throw new Error('审计路径过长');
      }
      if ((fn & 1n) === 1n || fn === sn) {
        r = await sha256(NODE, p, r);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = await sha256(NODE, r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) {
      throw new Error('审计路径过短');
    }
    return r;
  }

  // parseCheckpoint reads a signed note: the body (origin, size, root,
  // optional extension lines), a blank line, then "— name base64" lines.
  function parseCheckpoint(text) {
    const i = text.indexOf('\n\n');
    if (i < 0) {
      throw new Error('检查点格式错误');
    }
    const body = text.slice(0, i + 1);
    const lines = body.split('\n');
    if (lines.length < 4 || !/^[0-9]+$/.test(lines[1])) {
      throw new Error('检查点格式错误');
    }
    const root = unb64(lines[2]);
    if (root.length !== 32) {
      throw new Error('检查点根哈希格式错误');
    }
    const sigs = [];
    for (const line of text.slice(i + 2).split('\n')) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (m) {
        sigs.push({ name: m[1], sig: unb64(m[2]) });
      }
    }
    return { body, origin: lines[0], size: BigInt(lines[1]), root, sigs };
  }

  // parseVKey reads "name+keyid+base64(0x01 || public key)".
  // The name has no '+'; the base64 key may.
  function parseVKey(s) {
    const m = /^([^+\s]+)\+([0-9a-fA-F]{8})\+([A-Za-z0-9+/=]+)$/.exec(s.trim());
    if (!m) {
      throw new Error('公钥格式错误');
    }
    const parts = m.slice(1);
    const key = unb64(parts[2]);
    if (key.length !== 33 || key[0] !== 0x01) {
      throw new Error('公钥不是 Ed25519 公钥');
    }
    return { name: parts[0], id: parts[1].toLowerCase(), key, pub: key.slice(1) };
  }

  async function detectEd25519() {
    try {
      await crypto.subtle.importKey('raw', new Uint8Array(32), { name: 'Ed25519' }, false, ['verify']);
      return true;
    } catch (e) {
      return e && e.name !== 'NotSupportedError' && e.name !== 'SyntaxError' ? true : false;
    }
  }

  // checkSignature returns {state: 'ok'|'bad'|'unsupported'|'nokey', msg}.
  async function checkSignature(cp) {
    const text = vkeyInput ? vkeyInput.value.trim() : '';
    if (!text) {
      return { state: 'nokey', msg: '未提供验证公钥，检查点签名未核验。' };
    }
    const vk = parseVKey(text);
    if (vk.name !== cp.origin) {
      return { state: 'bad', msg: `检查点来自日志 ${cp.origin}，公钥属于 ${vk.name}` };
    }
    const id = hex((await sha256(enc.encode(vk.name), new Uint8Array([0x0a]), vk.key)).slice(0, 4));
    if (id !== vk.id) {
      return { state: 'bad', msg: '公钥的 ID 与公钥本身不符' };
    }
    const line = cp.sigs.find((s) => s.name === vk.name && s.sig.length === 68 && hex(s.sig.slice(0, 4)) === vk.id);
    if (!line) {
      return { state: 'bad', msg: '检查点上没有该公钥的签名' };
    }
    if (!(await ed25519)) {
      return { state: 'unsupported', msg: '此浏览器的 WebCrypto 不支持 Ed25519，检查点签名未在浏览器中核验（可用 liuhen verify 或任何 signed-note 实现核验）。' };
    }
    const key = await crypto.subtle.importKey('raw', vk.pub, { name: 'Ed25519' }, false, ['verify']);
    const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, line.sig.slice(4), enc.encode(cp.body));
    return ok ? { state: 'ok', msg: `检查点签名有效（Ed25519，公钥 ${vk.name}+${vk.id}）。` }
      : { state: 'bad', msg: '检查点签名无效' };
  }

  async function fetchOK(url, what) {
    const resp = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
    if (!resp.ok) {
      let detail = '';
      try {
        detail = (await resp.json()).detail || '';
      } catch (e) {
        // not a problem+json answer
      }
      throw new Error(`${what}失败（HTTP ${resp.status}）${detail ? '：' + detail : ''}`);
    }
    return resp;
  }

  function step(text, cls) {
    const li = document.createElement('li');
    li.textContent = text;
    if (cls) {
      li.className = cls;
    }
    stepsEl.appendChild(li);
  }

  async function verify(seq, shownHash) {
    const cp = parseCheckpoint(await (await fetchOK('/v1/checkpoint', '获取检查点')).text());
    step(`签名检查点：日志 ${cp.origin}，大小 ${cp.size}，根哈希 ${hex(cp.root)}`);
    if (BigInt(seq) >= cp.size) {
      throw new Error('该条目尚未被最新检查点覆盖，请稍后再试');
    }
    const bytes = new Uint8Array(await (await fetchOK(`/console/entries/${seq}`, '获取条目')).arrayBuffer());
    const leaf = await sha256(LEAF, bytes);
    step(`条目原始字节 ${bytes.length} 字节；叶子哈希 SHA-256(0x00‖字节) = ${hex(leaf)}`);
    let entry;
    try {
      entry = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (e) {
      throw new Error('条目字节不是有效的 UTF-8 JSON');
    }
    if (entry === null || typeof entry !== 'object' || entry.seq !== seq) {
      throw new Error(`条目声明自己是第 ${entry && entry.seq} 条，而不是第 ${seq} 条`);
    }
    step(`条目声明的序号为 ${entry.seq}，与所请求的一致`);
    const proof = await (await fetchOK(`/v1/proofs/inclusion?seq=${seq}&size=${cp.size}`, '获取包含证明')).json();
    if (!proof || !Array.isArray(proof.proof) || String(proof.size) !== String(cp.size)) {
      throw new Error('包含证明与检查点大小不符');
    }
    const path = proof.proof.map(unhex);
    const root = await rootFromPath(BigInt(seq), cp.size, leaf, path);
    step(`沿审计路径（${path.length} 个节点，RFC 6962）算得根哈希 ${hex(root)}`);
    if (hex(root) !== hex(cp.root)) {
      throw new Error('算得的根哈希与签名检查点的根哈希不一致：条目字节或证明被改动过');
    }
    step('算得的根哈希与签名检查点一致：该条目确在账本中，且字节未被改动');
    if (shownHash && shownHash !== hex(leaf)) {
      throw new Error(`叶子哈希与案卷时间线所示哈希 ${shownHash} 不一致：案卷投影与账本不符`);
    }
    const sig = await checkSignature(cp);
    if (sig.state === 'bad') {
      throw new Error('检查点签名核验失败：' + sig.msg);
    }
    step(sig.msg, sig.state === 'ok' ? '' : 'warn');
    return sig.state;
  }

  async function run(button) {
    const seq = Number(button.dataset.seq);
    const out = document.getElementById(`vr-${button.dataset.seq}`);
    panel.hidden = false;
    stepsEl.textContent = '';
    verdict.className = 'verdict';
    verdict.textContent = `正在验证第 ${seq} 条…`;
    out.className = 'vresult';
    out.textContent = '验证中…';
    out.removeAttribute('data-result');
    button.disabled = true;
    try {
      if (!window.crypto || !crypto.subtle) {
        throw new Error('浏览器仅在安全上下文（HTTPS 或本机地址）中提供 WebCrypto，无法在此验证；请通过 HTTPS 访问控制台');
      }
      const sigState = await verify(seq, button.dataset.hash);
      const sigNote = sigState === 'ok' ? '，签名有效' : '（签名未在浏览器中核验）';
      verdict.classList.add('ok');
      verdict.textContent = `✓ 第 ${seq} 条验证通过：包含于签名检查点${sigNote}`;
      out.classList.add('ok');
      out.textContent = '✓ 已验证';
      out.dataset.result = 'ok';
    } catch (e) {
      step(e.message, 'fail');
      verdict.classList.add('fail');
      verdict.textContent = `✗ 第 ${seq} 条验证失败：${e.message}`;
      out.classList.add('fail');
      out.textContent = '✗ 验证失败';
      out.dataset.result = 'fail';
    } finally {
      button.disabled = false;
    }
  }

  for (const b of document.querySelectorAll('button.verify')) {
    b.addEventListener('click', () => run(b));
  }

  // ed25519 resolves to whether WebCrypto here verifies Ed25519.
  const ed25519 = window.crypto && crypto.subtle ? detectEd25519() : Promise.resolve(false);

  (async () => {
    if (!window.crypto || !crypto.subtle) {
      support.textContent = '此页面不在安全上下文中（HTTPS 或本机地址），浏览器不提供 WebCrypto，无法在浏览器中验证。';
      return;
    }
    const yes = await ed25519;
    support.textContent = yes
      ? '本浏览器支持 WebCrypto Ed25519：验证时同时核验检查点签名。'
      : '本浏览器的 WebCrypto 不支持 Ed25519：只核验 Merkle 包含证明，检查点签名请用 liuhen verify 核验。';
    support.dataset.ed25519 = yes ? 'yes' : 'no';
  })();
})();
