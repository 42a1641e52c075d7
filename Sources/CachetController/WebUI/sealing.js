// Cachet's sealing page: seals a Secret in the browser, in format v1 (docs/wire-format.md §2), with the Web Crypto
// API and the certificate the controller serves. The plaintext never leaves the page: the one request made is
// `GET v1/cert.pem` (relative, so it works behind `kubectl port-forward` and the API server's service proxy alike),
// and the Content-Security-Policy the controller sends forbids every other connection, form posts and inline script.
'use strict';

const $ = (id) => document.getElementById(id);

// ---- Names: the CLI's rules and messages (Sources/CachetCrypto/SealingScope.swift, CachetKubeSyntax) ----

/** As the CLI quotes input in messages: double quotes, `"` `\` and control characters escaped, cut at 80. */
function quoted(text) {
  const scalars = Array.from(text);
  let result = '';
  for (const scalar of scalars.slice(0, 80)) {
    const code = scalar.codePointAt(0);
    if (scalar === '"') result += '\\"';
    else if (scalar === '\\') result += '\\\\';
    else if (scalar === '\n') result += '\\n';
    else if (scalar === '\t') result += '\\t';
    else if (scalar === '\r') result += '\\r';
    else if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) result += '\\u{' + code.toString(16) + '}';
    else result += scalar;
  }
  return '"' + result + (scalars.length > 80 ? '…' : '') + '"';
}

const isDNSLabelOf = (text, max) => text.length >= 1 && text.length <= max && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(text);
const isDNSLabel = (text) => isDNSLabelOf(text, 63);
const isDNSSubdomain = (text) => text.length <= 253 && text.split('.').every((part) => isDNSLabelOf(part, 253));
const isItemKey = (key) => key.length >= 1 && key.length <= 253 && key !== '.' && !key.startsWith('..') && /^[-._a-zA-Z0-9]+$/.test(key);

function checkNamespace(namespace) {
  if (!isDNSLabel(namespace)) {
    throw new Error(`namespace ${quoted(namespace)} is not a valid Kubernetes namespace (lowercase letters, digits and '-', at most 63)`);
  }
}

function checkName(name) {
  if (!isDNSSubdomain(name)) {
    throw new Error(`name ${quoted(name)} is not a valid Kubernetes object name (lowercase letters, digits, '-' and '.', at most 253)`);
  }
}

function checkItemKey(key) {
  if (!isItemKey(key)) {
    throw new Error(`item name ${quoted(key)} is not valid: use letters, digits, '-', '_' and '.' (at most 253, not starting with '..')`);
  }
}

/** The OAEP label of a scope (§2.4): `namespace/name`, `namespace`, or empty. */
function scopeLabel(scope, namespace, name) {
  const text = scope === 'strict' ? `${namespace}/${name}` : scope === 'namespace-wide' ? namespace : '';
  return new TextEncoder().encode(text);
}

// ---- The certificate ----

/** One DER element at `offset`: its tag, and where its contents start and its end are. */
function readElement(bytes, offset) {
  if (offset + 2 > bytes.length) throw new Error('the certificate is truncated');
  const tag = bytes[offset];
  let length = bytes[offset + 1];
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count < 1 || count > 4 || offset + 2 + count > bytes.length) throw new Error('the certificate has a bad length');
    length = 0;
    for (let index = 0; index < count; index++) length = length * 256 + bytes[offset + 2 + index];
    header += count;
  }
  const end = offset + header + length;
  if (end > bytes.length) throw new Error('the certificate is truncated');
  return { tag, start: offset, contents: offset + header, end };
}

function childrenOf(bytes, element) {
  const children = [];
  for (let offset = element.contents; offset < element.end;) {
    const child = readElement(bytes, offset);
    children.push(child);
    offset = child.end;
  }
  return children;
}

function parseTime(bytes, element) {
  const text = new TextDecoder().decode(bytes.subarray(element.contents, element.end));
  const match = element.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
    : element.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  if (!match) throw new Error('the certificate has a validity time it cannot read');
  let year = Number(match[1]);
  if (element.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  return new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])));
}

/** The SubjectPublicKeyInfo and validity of an X.509 certificate (DER). */
function parseCertificate(bytes) {
  const certificate = readElement(bytes, 0);
  if (certificate.tag !== 0x30) throw new Error('not an X.509 certificate');
  const [tbs] = childrenOf(bytes, certificate);
  if (!tbs || tbs.tag !== 0x30) throw new Error('not an X.509 certificate');
  const fields = childrenOf(bytes, tbs);
  const first = fields[0] && fields[0].tag === 0xa0 ? 1 : 0;  // [0] version, when present
  const validity = fields[first + 3], spki = fields[first + 5];
  if (!validity || !spki || validity.tag !== 0x30 || spki.tag !== 0x30) throw new Error('not an X.509 certificate');
  const [notBefore, notAfter] = childrenOf(bytes, validity);
  return {
    spki: bytes.slice(spki.start, spki.end),
    notBefore: parseTime(bytes, notBefore),
    notAfter: parseTime(bytes, notAfter),
  };
}

function pemBlock(text, label) {
  const match = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text);
  if (!match) throw new Error(`the controller's answer holds no ${label}`);
  return Uint8Array.from(atob(match[1].replace(/\s+/g, '')), (character) => character.charCodeAt(0));
}

const hex = (bytes) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

let certificate = null;

async function loadCertificate() {
  const status = $('certificate');
  try {
    if (!window.crypto || !crypto.subtle) {
      // Web Crypto exists only in secure contexts: https, or http to localhost (kubectl port-forward, kubectl proxy).
      throw new Error('this browser offers no Web Crypto here: open the page over https, or through kubectl port-forward at http://localhost');
    }
    const response = await fetch('v1/cert.pem', { cache: 'no-store', credentials: 'omit', redirect: 'error' });
    if (!response.ok) throw new Error(`the controller has no certificate yet (HTTP ${response.status}); reload in a moment`);
    const parsed = parseCertificate(pemBlock(await response.text(), 'CERTIFICATE'));
    const key = await crypto.subtle.importKey('spki', parsed.spki, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
    const bits = key.algorithm.modulusLength;
    // As the CLI: RSA of 2,048 to 16,384 bits (the two length bytes of a v1 value, and bounded work).
    if (bits < 2048 || bits > 16384) throw new Error(`the certificate's key is RSA-${bits}; sealing needs 2,048 to 16,384 bits`);
    const keyID = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', parsed.spki)).subarray(0, 8));
    certificate = { key, bits, keyID, notBefore: parsed.notBefore, notAfter: parsed.notAfter };
    status.textContent = `Sealing to the cluster's key ${keyID} (RSA-${bits}), certificate valid until ${parsed.notAfter.toISOString().slice(0, 10)}.`;
    $('seal').disabled = false;
  } catch (error) {
    status.textContent = `Cannot seal: ${error.message}`;
    status.classList.add('problem');
  }
}

// ---- Sealing (docs/wire-format.md §2.1–2.2) ----

function base64(bytes) {
  let binary = '';
  for (let offset = 0; offset < bytes.length; offset += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(offset, offset + 0x8000));
  }
  return btoa(binary);
}

/** One v1 value: BE16(k) ‖ RSA-OAEP(SHA-256, label)(sessionKey) ‖ AES-256-GCM(sessionKey, zero nonce)(value) ‖ tag. */
async function sealValue(label, value) {
  // A fresh key per value: the zero nonce is safe only because each key encrypts one message.
  const sessionKey = crypto.getRandomValues(new Uint8Array(32));
  try {
    const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: 'RSA-OAEP', label }, certificate.key, sessionKey));
    const aes = await crypto.subtle.importKey('raw', sessionKey, { name: 'AES-GCM' }, false, ['encrypt']);
    const body = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12), tagLength: 128 }, aes, value));
    const k = certificate.bits / 8;
    if (wrapped.length !== k) throw new Error('the RSA encryption gave an unexpected length');
    const envelope = new Uint8Array(2 + k + body.length);
    envelope[0] = k >> 8;
    envelope[1] = k & 0xff;
    envelope.set(wrapped, 2);
    envelope.set(body, 2 + k);
    return base64(envelope);
  } finally {
    sessionKey.fill(0);
  }
}

// ---- YAML as `cachet seal -o yaml` writes it (keys sorted) ----

/** A YAML scalar: plain when it cannot be read as anything but this string, else double-quoted (JSON is valid YAML). */
function scalar(text) {
  const plain = /^[A-Za-z0-9_./+][-A-Za-z0-9_./+=]*$/.test(text)
    && !/^(?:true|false|yes|no|on|off|y|n|null|~)$/i.test(text)
    && !/^[-+]?(?:\.?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.inf|\.nan|0x[0-9a-fA-F_]+|0o?[0-7_]+)$/i.test(text)
    && !/^[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/.test(text);
  return plain ? text : JSON.stringify(text);
}

function manifestYAML({ namespace, name, scope, type, values }) {
  const scopeAnnotation = scope === 'namespace-wide' ? 'sealedsecrets.bitnami.com/namespace-wide'
    : scope === 'cluster-wide' ? 'sealedsecrets.bitnami.com/cluster-wide' : null;
  const lines = ['---', 'apiVersion: bitnami.com/v1alpha1', 'kind: SealedSecret', 'metadata:', '  annotations:',
    `    cachet.dev/sealed-by: ${scalar(certificate.keyID)}`];
  if (scopeAnnotation) lines.push(`    ${scopeAnnotation}: "true"`);
  lines.push(`  name: ${scalar(name)}`, `  namespace: ${scalar(namespace)}`, 'spec:', '  encryptedData:');
  for (const key of Object.keys(values).sort()) lines.push(`    ${scalar(key)}: ${values[key]}`);
  lines.push('  template:', '    metadata:');
  if (scopeAnnotation) lines.push('      annotations:', `        ${scopeAnnotation}: "true"`);
  lines.push(`      name: ${scalar(name)}`, `      namespace: ${scalar(namespace)}`);
  if (type) lines.push(`    type: ${scalar(type)}`);
  return lines.join('\n') + '\n';
}

// ---- The form ----

const maxTotalBytes = 1 << 20;  // Kubernetes refuses Secrets whose values add up to more than 1 MiB

function addItem() {
  const row = $('item-template').content.firstElementChild.cloneNode(true);
  row.querySelector('.remove-item').addEventListener('click', () => {
    row.remove();
    if (!$('items').children.length) addItem();
  });
  $('items').appendChild(row);
  return row;
}

/** The form's items: key and bytes (a chosen file wins over typed text). */
async function readItems() {
  const items = [];
  const seen = new Set();
  for (const row of $('items').children) {
    const key = row.querySelector('.item-key').value;
    const file = row.querySelector('.item-file').files[0];
    const text = row.querySelector('.item-text').value;
    if (key === '' && !file && text === '') continue;  // an empty row is no item
    checkItemKey(key);
    if (seen.has(key)) throw new Error(`item name ${quoted(key)} is given twice`);
    seen.add(key);
    items.push({ key, value: file ? new Uint8Array(await file.arrayBuffer()) : new TextEncoder().encode(text) });
  }
  if (!items.length) throw new Error('add at least one item: a key and its value');
  const total = items.reduce((sum, item) => sum + item.value.length, 0);
  if (total > maxTotalBytes) throw new Error(`the values add up to ${total} bytes; Kubernetes refuses Secrets over 1 MiB`);
  return items;
}

function checkCertificateDates() {
  // As the CLI: never seal to an expired or not yet valid certificate (wire format §2.2, rule 6).
  const now = new Date();
  if (now > certificate.notAfter) throw new Error(`the cluster's certificate expired on ${certificate.notAfter.toISOString()}; reload once the controller has renewed it`);
  if (now < certificate.notBefore) throw new Error(`the cluster's certificate is not valid before ${certificate.notBefore.toISOString()} (is this computer's clock right?)`);
}

async function seal() {
  const error = $('error');
  error.hidden = true;
  error.textContent = '';
  $('result').hidden = true;
  $('output').value = '';
  const namespace = $('namespace').value.trim();
  const name = $('name').value.trim();
  const scope = $('scope').value;
  const type = $('type').value.trim();
  const raw = $('kind-raw').checked;
  try {
    if (raw) {
      // As `cachet seal --raw`: the scope says which of namespace and name the value is bound to.
      if (scope !== 'cluster-wide') checkNamespace(namespace);
      if (scope === 'strict') checkName(name);
    } else {
      checkNamespace(namespace);
      checkName(name);
    }
    const items = await readItems();
    if (raw && items.length !== 1) throw new Error('one sealed value seals one item: remove the others, or choose a SealedSecret');
    checkCertificateDates();
    const label = scopeLabel(scope, namespace, name);
    const values = {};
    for (const item of items) values[item.key] = await sealValue(label, item.value);
    $('output').value = raw ? values[items[0].key] : manifestYAML({ namespace, name, scope, type, values });
    $('result').hidden = false;
  } catch (problem) {
    error.textContent = problem.message;
    error.hidden = false;
  }
}

function download() {
  const raw = $('kind-raw').checked;
  const name = $('name').value.trim() || 'secret';
  const blob = new Blob([$('output').value], { type: raw ? 'text/plain' : 'application/yaml' });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = raw ? `${name}.sealed.txt` : `${name}.sealed.yaml`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

async function copy() {
  const output = $('output');
  try {
    await navigator.clipboard.writeText(output.value);
  } catch {
    output.select();
    document.execCommand('copy');
  }
  $('copied').textContent = 'Copied.';
  setTimeout(() => { $('copied').textContent = ''; }, 2000);
}

function clearValues() {
  for (const row of Array.from($('items').children)) row.remove();
  addItem();
}

document.addEventListener('DOMContentLoaded', () => {
  addItem();
  $('add-item').addEventListener('click', () => addItem().querySelector('.item-key').focus());
  $('seal').addEventListener('click', seal);
  $('download').addEventListener('click', download);
  $('copy').addEventListener('click', copy);
  $('clear').addEventListener('click', clearValues);
  loadCertificate();
});
