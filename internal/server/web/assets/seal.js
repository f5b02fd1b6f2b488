// The seal page: the PDF is read in the browser (its SHA-256 and page 1,
// drawn by pdf.js from the embedded assets), the user may drag a
// rectangle for a visible seal, reviews what the approval covers, and the
// document goes with the options and the approval to the API's seal
// route, which computes the seal intent itself and seals exactly that.
import { api, badge, blobURL, bytes, dropZone, h, onSubmit, showError, visible } from './app.js';
import * as pdfjs from './pdfjs/pdf.min.mjs';

pdfjs.GlobalWorkerOptions.workerSrc = '/assets/pdfjs/pdf.worker.min.mjs';

const form = document.getElementById('seal');
const $ = (id) => document.getElementById(id);
const canvas = $('page1');
const wrap = $('canvas-wrap');
const rectBox = $('rect');
const fields = { x: $('rx'), y: $('ry'), w: $('rw'), h: $('rh') };

/** What the page knows of the document. */
const doc = { file: null, sha256: '', viewport: null, view: null };
/** The visible seal's rectangle in PDF points [llx, lly, urx, ury], or null. */
let rect = null;

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Reads the chosen file: its SHA-256 and page 1. */
async function load(file) {
  const err = form.querySelector('.form-error');
  err.hidden = true;
  if (file.size > Number(form.dataset.max)) {
    err.textContent = `The file is ${bytes(file.size)}, over this server's limit of ${bytes(form.dataset.max)}.`;
    err.hidden = false;
    return;
  }
  const data = await file.arrayBuffer();
  doc.file = file;
  for (const id of ['step-page', 'step-review', 'step-approve']) $(id).hidden = false;
  doc.sha256 = hex(await crypto.subtle.digest('SHA-256', data));
  try {
    const pdf = await pdfjs.getDocument({ data: new Uint8Array(data), standardFontDataUrl: '/assets/pdfjs/standard_fonts/',
      useWasm: false, enableXfa: false, isEvalSupported: false }).promise;
    const page = await pdf.getPage(1);
    const base = page.getViewport({ scale: 1 });
    const scale = Math.min(1.5, Math.max(0.3, Math.min(760, $('step-page').clientWidth - 300) / base.width));
    const vp = page.getViewport({ scale });
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.floor(vp.width * dpr);
    canvas.height = Math.floor(vp.height * dpr);
    canvas.style.width = `${Math.floor(vp.width)}px`;
    canvas.style.height = `${Math.floor(vp.height)}px`;
    await page.render({ canvas, canvasContext: canvas.getContext('2d'), viewport: vp, transform: dpr !== 1 ? [dpr, 0, 0, dpr, 0, 0] : null }).promise;
    doc.viewport = vp;
    doc.view = page.view;
    $('page-size').textContent = `Page 1 is ${Math.round(base.width)} × ${Math.round(base.height)} points${pdf.numPages > 1 ? ` (of ${pdf.numPages} pages)` : ''}.`;
  } catch (e) {
    doc.viewport = null;
    $('page-size').textContent = visible(`Page 1 could not be drawn here (${e.message || e}); the seal can still be invisible or placed by its position.`);
  }
  review();
}

/** The rectangle from the four position fields. */
function rectFromFields() {
  const [x, y, w, hh] = [fields.x, fields.y, fields.w, fields.h].map((f) => Number(f.value));
  if (![x, y, w, hh].every(Number.isFinite) || w <= 0 || hh <= 0) return null;
  return [x, y, x + w, y + hh];
}

function setFields(r) {
  fields.x.value = Math.round(r[0]);
  fields.y.value = Math.round(r[1]);
  fields.w.value = Math.round(r[2] - r[0]);
  fields.h.value = Math.round(r[3] - r[1]);
}

/** Draws the rectangle over the page. */
function drawRect() {
  if (!rect || !doc.viewport) {
    rectBox.hidden = true;
    return;
  }
  const [x1, y1] = doc.viewport.convertToViewportPoint(rect[0], rect[1]);
  const [x2, y2] = doc.viewport.convertToViewportPoint(rect[2], rect[3]);
  rectBox.style.left = `${Math.min(x1, x2)}px`;
  rectBox.style.top = `${Math.min(y1, y2)}px`;
  rectBox.style.width = `${Math.abs(x2 - x1)}px`;
  rectBox.style.height = `${Math.abs(y2 - y1)}px`;
  rectBox.hidden = false;
}

/** A point of the page (PDF points) from a pointer event. */
function pagePoint(ev) {
  const b = canvas.getBoundingClientRect();
  return doc.viewport.convertToPdfPoint(ev.clientX - b.left, ev.clientY - b.top);
}

let dragFrom = null;
wrap.addEventListener('pointerdown', (ev) => {
  if (!$('visible').checked || !doc.viewport) return;
  ev.preventDefault();
  wrap.setPointerCapture(ev.pointerId);
  dragFrom = pagePoint(ev);
});
wrap.addEventListener('pointermove', (ev) => {
  if (!dragFrom) return;
  const p = pagePoint(ev);
  rect = [Math.min(dragFrom[0], p[0]), Math.min(dragFrom[1], p[1]), Math.max(dragFrom[0], p[0]), Math.max(dragFrom[1], p[1])];
  drawRect();
});
wrap.addEventListener('pointerup', () => {
  if (!dragFrom) return;
  dragFrom = null;
  if (rect && (rect[2] - rect[0] < 4 || rect[3] - rect[1] < 4)) rect = null;
  if (rect) {
    rect = rect.map(Math.round);
    setFields(rect);
  }
  drawRect();
  review();
});

$('visible').addEventListener('change', () => {
  const on = $('visible').checked;
  $('rect-fields').disabled = !on;
  wrap.classList.toggle('drawing', on);
  if (on && !rect) {
    // A default place: the lower right corner, 36 points in.
    const v = doc.view ?? [0, 0, 612, 792];
    rect = [v[2] - 36 - 180, v[1] + 36, v[2] - 36, v[1] + 36 + 72];
    setFields(rect);
  }
  if (!on) rect = null;
  drawRect();
  review();
});
for (const f of Object.values(fields)) {
  f.addEventListener('input', () => {
    rect = rectFromFields();
    drawRect();
    review();
  });
}
for (const id of ['reason', 'location', 'identity']) $(id).addEventListener('input', review);

/** The seal options the request sends (and the approval covers). */
function options() {
  const o = {};
  if ($('reason').value.trim()) o.reason = $('reason').value.trim();
  if ($('location').value.trim()) o.location = $('location').value.trim();
  if ($('visible').checked && rect) o.visible = { page: 1, rect };
  return o;
}

function chosen() {
  return $('identity').selectedOptions[0];
}

/** Fills the review table. */
function review() {
  const id = chosen();
  const o = options();
  $('r-doc').textContent = doc.file ? visible(`${doc.file.name}, ${bytes(doc.file.size)}`) : '';
  $('r-sha').textContent = doc.sha256;
  $('r-identity').textContent = visible(`${id.dataset.name} (${id.value}), certificate version ${id.dataset.version}`);
  $('r-subject').textContent = visible(id.dataset.subject);
  $('r-thumb').textContent = `SHA-256 ${id.dataset.thumbprint}`;
  $('r-appearance').textContent = o.visible
    ? `visible on page 1 at [${o.visible.rect.join(', ')}] (points: left, bottom, right, top)`
    : 'invisible (no mark on the page)';
  $('r-reason').textContent = visible([o.reason, o.location].filter(Boolean).join(' · ') || 'none');
  $('r-level').textContent = form.dataset.level;
}

dropZone(form.querySelector('[data-drop]'), load);

/** The filename of a Content-Disposition header. */
function filename(cd) {
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd || '');
  return m ? decodeURIComponent(m[1]) : 'sealed.pdf';
}

/** Checks the sealed file with the public verification and says so. */
async function check(blob, name) {
  const out = $('check');
  try {
    const body = new FormData();
    body.append('file', blob, name);
    const rep = await (await api('POST', '/api/v1/verify', { body })).json();
    const last = rep.signatures.at(-1);
    const rc = last?.seal_receipt;
    const same = rc?.document_sha256 === doc.sha256;
    out.replaceChildren(
      rep.verdict === 'valid' ? badge('ok', 'Valid') : badge('warn', rep.verdict), ' ',
      rc?.summary ? visible(rc.summary) : 'no seal receipt', h('br'),
      same ? badge('ok', 'the receipt records the SHA-256 you reviewed') : badge('bad', 'the receipt records another document'));
  } catch (e) {
    out.textContent = e.text || visible(e.message);
  }
}

/** Seals the document with an approval (the form parts "code" or "passkey"). */
async function seal(approval) {
  if (!doc.file) throw new Error('Choose the PDF first.');
  const id = chosen();
  const body = new FormData();
  body.append('file', doc.file, doc.file.name);
  body.append('options', JSON.stringify(options()));
  for (const [k, v] of Object.entries(approval)) body.append(k, v);
  $('seal-progress').hidden = false;
  try {
    const r = await api('POST', `${sealPath(id)}`, { body });
    const blob = await r.blob();
    const name = filename(r.headers.get('Content-Disposition'));
    const a = $('download');
    a.href = blobURL(blob);
    a.download = name;
    a.textContent = visible(`Download ${name}`);
    $('entry').replaceChildren(`${r.headers.get('Sealkeep-Seal-Chain')} #${r.headers.get('Sealkeep-Seal-Seq')}`, h('br'),
      h('code', { class: 'wrap' }, r.headers.get('Sealkeep-Seal-Entry-Hash') || ''));
    $('request').textContent = r.headers.get('Sealkeep-Seal-Request-Id') || '';
    $('code').value = '';
    form.hidden = true;
    $('sealed').hidden = false;
    a.focus();
    await check(blob, name);
  } finally {
    $('seal-progress').hidden = true;
  }
}

/** The seal route of the chosen identity. */
function sealPath(id) {
  return `/api/v1/orgs/${encodeURIComponent(form.dataset.org)}/identities/${encodeURIComponent(id.value)}/seal`;
}

function unb64url(s) {
  return Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
}

/**
 * A passkey approval: the server computes the seal intent and begins a
 * WebAuthn ceremony whose challenge is its SHA-256; the page checks that
 * the intent is the document and certificate reviewed and that the
 * challenge is the digest of the intent, then the authenticator signs it.
 */
async function passkeyApproval() {
  if (!doc.file) throw new Error('Choose the PDF first.');
  const id = chosen();
  const begun = await (await api('POST', `${sealPath(id)}/passkey`, { json: { document_sha256: doc.sha256, options: options() } })).json();
  const it = begun.intent;
  const digest = hex(await crypto.subtle.digest('SHA-256', unb64url(it.canonical)));
  if (it.document_sha256 !== doc.sha256 || it.certificate_sha256 !== id.dataset.thumbprint || digest !== it.sha256 ||
      hex(unb64url(begun.options.publicKey.challenge)) !== it.sha256) {
    throw new Error('The server\'s seal intent is not what you reviewed: nothing was signed.');
  }
  $('intent-sha').textContent = it.sha256;
  $('intent').hidden = false;
  const cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(begun.options.publicKey) });
  return { passkey: JSON.stringify({ ceremony: begun.ceremony, credential: cred.toJSON() }) };
}

onSubmit(form, async () => {
  if (!$('code').value.trim()) throw new Error('Type your authenticator code, or use your passkey.');
  await seal({ code: $('code').value.replace(/\s+/g, '') });
});

$('passkey-button')?.addEventListener('click', async () => {
  const b = $('passkey-button');
  b.disabled = true;
  showError(form, null);
  try {
    await seal(await passkeyApproval());
  } catch (e) {
    showError(form, e);
  } finally {
    b.disabled = false;
  }
});
