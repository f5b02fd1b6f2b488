// sealkeep web application: the script of every page (an ES module, no
// framework, no build step).
//
// Pages are rendered by the server and only read; everything they do goes
// through the JSON API under /api/v1 with the session cookie and the
// session's CSRF token (<meta name="csrf-token">) in X-CSRF-Token. A form
// with data-api="METHOD PATH" is sent as JSON (or data-body="multipart",
// "pem" or "none"), and data-done says what follows success: "reload",
// "go:/path", "follow" (the answer's Location, as a page), "show:ID" (fill
// the element ID's [data-field] from the answer and show it), or the name
// of a handler below ("totp", "codes").
//
// Text from the API is put into the page with textContent only, never as
// HTML, and passed through visible(), which shows control, bidi and other
// format characters as escapes (as the server's textsafe.Escape does).

/** The session's CSRF token ("" on a page without a session). */
export const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? '';

/** A problem details answer (RFC 9457) of the API. */
export class Problem extends Error {
  constructor(status, p) {
    super(p.detail || p.title || `HTTP ${status}`);
    this.status = status;
    this.title = p.title || `HTTP ${status}`;
    this.detail = p.detail || '';
    this.requestID = p.request_id || '';
  }
  /** The problem in words for a person. */
  get text() {
    let t = this.title;
    if (this.detail) t += `: ${this.detail}`;
    if (this.requestID) t += ` (request ${this.requestID})`;
    return visible(t);
  }
}

/**
 * Sends an API request with the session's CSRF token and returns the
 * response; an error answer is thrown as a Problem.
 */
export async function api(method, path, { json, body, type } = {}) {
  const headers = { Accept: 'application/json' };
  if (csrf && !['GET', 'HEAD'].includes(method)) headers['X-CSRF-Token'] = csrf;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (type) {
    headers['Content-Type'] = type;
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body, credentials: 'same-origin', redirect: 'error', cache: 'no-store' });
  } catch (e) {
    throw new Problem(0, { title: 'The server could not be reached', detail: String(e.message || e) });
  }
  if (!r.ok) {
    let p = {};
    try { p = await r.json(); } catch { /* not problem details */ }
    throw new Problem(r.status, p);
  }
  return r;
}

const hidden = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}\u2028\u2029\u115f\u1160\u3164\uffa0\ufe00-\ufe0f]/u;

/**
 * Returns s with control, bidi, format, private-use and unassigned
 * characters written as visible escapes (\x1b, \u202e), so that text from
 * a PDF or a certificate can neither hide nor reorder what the page says.
 */
export function visible(s) {
  s = String(s ?? '');
  let out = '';
  const cps = Array.from(s);
  for (let i = 0; i < cps.length; i++) {
    const ch = cps[i];
    const cp = ch.codePointAt(0);
    if (cp < 0x20 || cp === 0x7f) {
      out += '\\x' + cp.toString(16).padStart(2, '0');
    } else if (ch === '\\' && (i + 1 === cps.length || /^[xuU\\]$/.test(cps[i + 1]) || hidden.test(cps[i + 1]) || cps[i + 1].codePointAt(0) < 0x20)) {
      out += '\\\\';
    } else if (hidden.test(ch)) {
      out += cp > 0xffff ? '\\U' + cp.toString(16).padStart(8, '0') : '\\u' + cp.toString(16).padStart(4, '0');
    } else {
      out += ch;
    }
  }
  return out;
}

/** Makes an element with attributes and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    e.append(c instanceof Node ? c : visible(c));
  }
  return e;
}

/** A status badge: a symbol and words, never colour alone. */
export function badge(kind, text) {
  const sym = { ok: '✓', bad: '✕', warn: '!', info: '●', neutral: '' }[kind] ?? '';
  return h('span', { class: `badge ${kind}` }, sym ? `${sym} ${text}` : text);
}

/** Shows err in the form's alert region (or hides it for null). */
export function showError(form, err) {
  const el = form.querySelector('.form-error');
  if (!el) return;
  if (!err) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.textContent = err instanceof Problem ? err.text : visible(err.message || err);
  el.hidden = false;
}

/** Looks a dotted path up in an object ("invitation.token"). */
function lookup(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

/** The first of the comma-separated paths that obj has. */
function field(obj, paths) {
  for (const p of paths.split(',')) {
    const v = lookup(obj, p.trim());
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Sets a dotted path in an object, making the objects on the way. */
function assign(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys.at(-1)] = value;
}

/** The JSON body of a form: its named fields, nested by dots. */
function formJSON(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.hasAttribute('data-path') || el.hasAttribute('data-skip') || el.type === 'file') continue;
    let v = el.value;
    if (el.type === 'checkbox') v = el.checked;
    else if (el.type === 'number' || el.dataset.type === 'int') v = el.value === '' ? undefined : Number(el.value);
    if (v === undefined) continue;
    assign(out, el.name, v);
  }
  return out;
}

/** A blob URL for the page's downloads and images. */
export function blobURL(data, type) {
  return URL.createObjectURL(data instanceof Blob ? data : new Blob([data], { type }));
}

/** Base64 to bytes. */
function unbase64(s) {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** What follows a form's success, by data-done. */
const done = {
  /** TOTP enrolment begun: the QR code, the key, then the confirm form. */
  async totp(form, r) {
    const e = await r.json();
    document.getElementById('totp-qr').src = blobURL(unbase64(e.qr_png), 'image/png');
    const secret = new URL(e.otpauth_uri).searchParams.get('secret') || '';
    document.getElementById('totp-secret').textContent = secret.replace(/(.{4})/g, '$1 ').trim();
    form.hidden = true;
    document.getElementById('totp-scan').hidden = false;
    document.getElementById('totp-code').focus();
  },
  /** New recovery codes, shown once. */
  async codes(form, r) {
    const { recovery_codes: codes } = await r.json();
    const list = document.getElementById('codes-list');
    list.replaceChildren(...codes.map((c) => h('li', {}, c)));
    document.getElementById('codes-download').href = blobURL(
      `sealkeep recovery codes for ${document.querySelector('.who')?.textContent ?? ''}\n${codes.join('\n')}\n`, 'text/plain');
    const box = document.getElementById('codes');
    box.hidden = false;
    for (const f of document.querySelectorAll('form[data-api]')) f.closest('section.card')?.setAttribute('hidden', '');
    box.removeAttribute('hidden');
    box.querySelector('h2').setAttribute('tabindex', '-1');
    box.querySelector('h2').focus();
  },
};

/** Sends a data-api form. */
async function submitAPI(form) {
  let [method, path] = form.dataset.api.split(' ');
  for (const el of form.querySelectorAll('[data-path]')) path = path.replace(`{${el.name}}`, encodeURIComponent(el.value));
  const kind = form.dataset.body || 'json';
  const opts = {};
  if (kind === 'json') opts.json = formJSON(form);
  else if (kind === 'multipart') opts.body = new FormData(form);
  else if (kind === 'pem') {
    const f = form.querySelector('input[type=file]').files[0];
    if (!f) throw new Error('Choose a file first.');
    opts.body = await f.text();
    opts.type = 'application/pem-certificate-chain';
  }
  const r = await api(method, path, opts);
  const then = form.dataset.done || 'reload';
  if (then === 'reload') location.reload();
  else if (then.startsWith('go:')) location.assign(then.slice(3));
  else if (then === 'follow') {
    const loc = r.headers.get('Location') || '';
    location.assign(loc.startsWith('/api/v1/') ? loc.slice('/api/v1'.length) : location.pathname);
  } else if (then.startsWith('show:')) {
    const box = document.getElementById(then.slice(5));
    const data = await r.json();
    for (const el of box.querySelectorAll('[data-field]')) {
      const v = visible(field(data, el.dataset.field) ?? '');
      if ('value' in el && el.tagName === 'INPUT') el.value = v;
      else el.textContent = v;
    }
    for (const a of box.querySelectorAll('[data-href-activate]')) {
      a.href = '/activate#' + encodeURIComponent(field(data, a.dataset.hrefActivate) ?? '');
    }
    box.hidden = false;
    box.querySelector('input, a')?.focus();
  } else {
    await done[then](form, r);
  }
}

/** Disables a form's submit buttons while its request runs. */
async function busy(form, fn) {
  const buttons = [...form.querySelectorAll('button[type=submit]')];
  buttons.forEach((b) => { b.disabled = true; });
  try {
    showError(form, null);
    await fn();
  } catch (e) {
    showError(form, e);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

/** Binds a submit handler that reports its errors in the form. */
export function onSubmit(form, fn) {
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!form.checkValidity()) {
      form.reportValidity();
      return;
    }
    busy(form, () => fn(form));
  });
}

/** Binds a drop zone to its file input. */
export function dropZone(zone, onFile) {
  const input = zone.querySelector('input[type=file]');
  const take = (f) => { if (f) onFile?.(f); };
  input.addEventListener('change', () => take(input.files[0]));
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer.files.length) {
      input.files = e.dataTransfer.files;
      take(input.files[0]);
    }
  });
  return input;
}

/** A byte count in words. */
export function bytes(n) {
  n = Number(n);
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} bytes`;
}

// ---- the pages

function signinPage() {
  const form = document.getElementById('signin');
  if (!form) return;
  onSubmit(form, async () => {
    const body = { login: form.login.value.trim(), password: form.password.value };
    if (form.code.value.trim()) body.code = form.code.value.replace(/\s+/g, '');
    await api('POST', '/api/v1/session', { json: body });
    location.assign(form.dataset.next || '/orgs');
  });
  (form.login.value ? form.password : form.login).focus();
}

function activatePage() {
  const form = document.getElementById('activate');
  if (location.hash.length > 1) {
    form.invitation.value = decodeURIComponent(location.hash.slice(1));
    history.replaceState(null, '', location.pathname); // the token leaves the address bar
  }
  onSubmit(form, async () => {
    if (form.password.value !== form.password2.value) throw new Error('The two passwords differ.');
    const r = await api('POST', '/api/v1/activation', { json: { invitation: form.invitation.value.trim(), password: form.password.value } });
    const out = await r.json();
    const box = document.getElementById('activated');
    box.querySelector('[data-field="user.login"]').textContent = visible(out.user.login);
    document.getElementById('activated-signin').href = '/signin?login=' + encodeURIComponent(out.user.login);
    form.hidden = true;
    box.hidden = false;
    document.getElementById('activated-signin').focus();
  });
}

function auditPage() {
  const button = document.getElementById('verify-chain');
  if (!button) return;
  const out = document.getElementById('chain-result');
  button.addEventListener('click', async () => {
    button.disabled = true;
    out.replaceChildren(h('p', { class: 'progress' }, 'Verifying every entry, the checkpoint and the stored state…'));
    try {
      const rep = await (await api('GET', button.dataset.api)).json();
      if (rep.ok) {
        out.replaceChildren(h('p', { class: 'status-line' }, badge('ok', 'Chain verified'),
          `${rep.entries} entries read, head at entry ${rep.head_seq}: hashes, links, the latest signed checkpoint and the stored state all agree.`));
      } else {
        out.replaceChildren(h('p', { class: 'status-line' }, badge('bad', 'Chain broken'),
          rep.broken_seq ? `at entry ${rep.broken_seq}${rep.problem ? ` (${rep.problem})` : ''}: ${rep.error || ''}` : rep.error || 'verification failed'));
      }
    } catch (e) {
      out.replaceChildren(h('p', { class: 'status-line' }, badge('bad', 'Could not verify'), e instanceof Problem ? e.text : String(e)));
    } finally {
      button.disabled = false;
    }
  });
}

function accountPage() {
  const form = document.getElementById('passkey-add');
  if (!form) return;
  onSubmit(form, async () => {
    if (!window.PublicKeyCredential?.parseCreationOptionsFromJSON) throw new Error('This browser cannot make passkeys.');
    const begun = await (await api('POST', '/api/v1/me/passkeys/registration')).json();
    const cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(begun.options.publicKey) });
    await api('POST', '/api/v1/me/passkeys', { json: { ceremony: begun.ceremony, name: document.getElementById('pk-name').value.trim(),
      code: document.getElementById('pk-code').value.replace(/\s+/g, ''), credential: cred.toJSON() } });
    location.reload();
  });
}

const pages = { signin: signinPage, activate: activatePage, audit: auditPage, account: accountPage };

function init() {
  for (const form of document.querySelectorAll('form[data-api]')) onSubmit(form, submitAPI);
  for (const b of document.querySelectorAll('[data-signout]')) {
    b.addEventListener('click', async () => {
      try { await api('DELETE', '/api/v1/session'); } catch { /* signed out already */ }
      location.assign('/signin');
    });
  }
  for (const el of document.querySelectorAll('[data-bytes]')) el.textContent = bytes(el.dataset.bytes);
  pages[document.body.dataset.page]?.();
}

init();
