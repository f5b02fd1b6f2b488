// The verify page: the PDF goes to the public POST /api/v1/verify and the
// report comes back as plain words, with the JSON one click away.
import { api, badge, blobURL, dropZone, h, onSubmit, visible } from './app.js';

const verdictWords = {
  valid: ['ok', 'Valid', 'The document is exactly as sealed and the sealing certificate is trusted.'],
  untrusted: ['warn', 'Not trusted', 'The signature is intact, but its certificate does not lead to a trust anchor of this server.'],
  modified: ['warn', 'Changed after sealing', 'The sealed revision is intact, but the file was changed after it was sealed.'],
  invalid: ['bad', 'Invalid', 'Do not rely on this document.'],
};

const timeSources = {
  timestamp: 'proven by a trusted timestamp',
  signing_time_attribute: "the signer's own claim",
  dictionary_m: "the signer's own claim",
};

const changeWords = {
  none: ['ok', 'nothing since the seal'],
  form_filling: ['warn', 'form fields were filled in after the seal'],
  annotations: ['warn', 'annotations were added or changed after the seal'],
  other: ['bad', 'the content was changed after the seal'],
};

/** The common name of an RFC 2253 subject, or the whole subject. */
function commonName(subject) {
  const m = /(?:^|,)CN=((?:\\.|[^,])*)/.exec(subject || '');
  return m ? m[1].replace(/\\(.)/g, '$1') : subject || 'an unknown signer';
}

function when(t) {
  return t ? new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC') : '';
}

function line(label, ...value) {
  return [h('dt', {}, label), h('dd', {}, ...value)];
}

function signature(sig, i) {
  const [kind, word] = verdictWords[sig.verdict] ?? ['bad', sig.verdict];
  const facts = [];
  facts.push(...line('Sealed by', commonName(sig.signer_subject), sig.name ? ` (the signature names “${sig.name}”)` : ''));
  facts.push(...line('Certificate', h('span', { class: 'subject' }, sig.signer_subject || 'unreadable'),
    sig.trusted ? badge('ok', 'trusted') : badge('warn', 'not trusted')));
  facts.push(...line('When', sig.signing_time ? `${when(sig.signing_time)}, ${timeSources[sig.signing_time_source] ?? 'source unknown'}` : 'no time given'));
  const [ck, cw] = changeWords[sig.modification] ?? ['bad', sig.modification];
  facts.push(...line('Changed after', badge(ck, cw)));
  if (sig.reason) facts.push(...line('Reason', sig.reason));
  if (sig.location) facts.push(...line('Location', sig.location));
  facts.push(...line('Integrity', sig.intact ? badge('ok', 'the signed bytes are unchanged') : badge('bad', 'the signed bytes changed'),
    ' ', sig.valid ? badge('ok', 'signature verifies') : badge('bad', 'signature does not verify')));
  if (sig.custody) {
    const st = sig.custody.status;
    facts.push(...line('Custody', badge(st === 'active' ? 'ok' : st === 'revoked' || st === 'destroyed' ? 'bad' : 'neutral', st || 'unknown'), ' ', sig.custody.summary || ''));
  } else {
    facts.push(...line('Custody', 'this certificate is not in this server\'s custody'));
  }
  if (sig.seal_receipt) {
    const rc = sig.seal_receipt;
    facts.push(...line('Seal receipt', rc.found ? badge('ok', 'found') : badge('warn', 'none'), ' ', rc.summary || ''));
    if (rc.found) {
      facts.push(...line('Audit entry', `${rc.chain} #${rc.seq}, recorded ${when(rc.time)}`, h('br'), h('code', { class: 'wrap' }, rc.entry_hash || '')));
    }
  }
  facts.push(...line('ETSI indication', `${sig.indication}${sig.sub_indication ? ' / ' + sig.sub_indication : ''}`));
  const out = h('article', { class: 'sig', 'aria-labelledby': `sig-${i}` },
    h('h3', { id: `sig-${i}` }, badge(kind, word), `Signature ${i + 1}`, h('span', { class: 'muted' }, `field ${sig.field}`)),
    h('dl', { class: 'facts' }, facts));
  if (sig.reasons?.length) out.append(h('p', {}, 'Why:'), h('ul', {}, sig.reasons.map((r) => h('li', {}, r))));
  if (sig.notes?.length) out.append(h('p', { class: 'muted' }, 'Notes:'), h('ul', { class: 'muted' }, sig.notes.map((n) => h('li', {}, n))));
  for (const u of sig.updates ?? []) {
    if (u.changes?.length) out.append(h('details', {}, h('summary', {}, `Update in revision ${u.revision}: ${u.class}`), h('ul', {}, u.changes.map((c) => h('li', {}, c)))));
  }
  return out;
}

function show(rep, raw) {
  const [kind, word, words] = verdictWords[rep.verdict] ?? ['bad', rep.verdict, ''];
  const n = rep.signatures.length;
  document.getElementById('report-summary').replaceChildren(
    h('p', { class: `verdict ${kind}` }, badge(kind, word), n ? `${words} ${n} signature${n > 1 ? 's' : ''}.` : 'The file has no signature.'),
    h('dl', { class: 'facts' },
      line('File', rep.file || 'uploaded file', ` · ${rep.size} bytes · ${rep.revisions} revision${rep.revisions === 1 ? '' : 's'}`),
      line('SHA-256', h('code', { class: 'wrap' }, rep.sha256)),
      line('Checked at', when(rep.validated_at))),
    ...(rep.reasons?.length ? [h('ul', {}, rep.reasons.map((r) => h('li', {}, r)))] : []));
  document.getElementById('report-signatures').replaceChildren(...rep.signatures.map(signature));
  document.getElementById('report-json').textContent = raw.split('\n').map(visible).join('\n');
  document.getElementById('report-download').href = blobURL(raw, 'application/json');
  const box = document.getElementById('report');
  box.hidden = false;
  document.getElementById('report-h').setAttribute('tabindex', '-1');
  document.getElementById('report-h').focus();
}

const form = document.getElementById('verify');
dropZone(form.querySelector('[data-drop]'), () => form.requestSubmit());
onSubmit(form, async () => {
  const f = form.file.files[0];
  const body = new FormData();
  body.append('file', f, f.name);
  const r = await api('POST', '/api/v1/verify', { body });
  const raw = await r.text();
  show(JSON.parse(raw), raw);
});
