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

/**
 * One DER element at `offset`, within `limit`: its tag, and where its contents start and it ends. Definite lengths
 * only, single-byte tags, each element inside its parent.
 */
function readElement(bytes, offset, limit = bytes.length) {
  if (offset + 2 > limit) throw new Error('the certificate is truncated');
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw new Error('the certificate is not DER this page can read');
  let length = bytes[offset + 1];
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count < 1 || count > 4 || offset + 2 + count > limit) throw new Error('the certificate has a bad length');
    length = 0;
    for (let index = 0; index < count; index++) length = length * 256 + bytes[offset + 2 + index];
    header += count;
  }
  const end = offset + header + length;
  if (end > limit) throw new Error('the certificate is truncated');
  return { tag, start: offset, contents: offset + header, end };
}

function childrenOf(bytes, element) {
  const children = [];
  for (let offset = element.contents; offset < element.end;) {
    const child = readElement(bytes, offset, element.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

function expect(element, tag) {
  if (!element || element.tag !== tag) throw new Error('not an X.509 certificate');
  return element;
}

function parseTime(bytes, element) {
  const text = new TextDecoder().decode(bytes.subarray(element.contents, element.end));
  const match = element.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
    : element.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  if (!match) throw new Error('the certificate has a validity time this page cannot read');
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    throw new Error('the certificate has an impossible validity time');
  }
  const fullYear = element.tag === 0x17 ? year + (year >= 50 ? 1900 : 2000) : year;
  const date = new Date(0);
  date.setUTCFullYear(fullYear, month - 1, day);  // setUTCFullYear: years below 100 stay as they are
  date.setUTCHours(hour, minute, second, 0);
  if (date.getUTCDate() !== day) throw new Error('the certificate has an impossible validity time');
  return date;
}

const rsaEncryption = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];  // OID 1.2.840.113549.1.1.1

/** The SubjectPublicKeyInfo and validity of an X.509 certificate (DER), each field where RFC 5280 puts it. */
function parseCertificate(bytes) {
  const certificate = expect(readElement(bytes, 0), 0x30);
  if (certificate.end !== bytes.length) throw new Error('not an X.509 certificate (bytes after it)');
  const tbs = expect(childrenOf(bytes, certificate)[0], 0x30);
  const fields = childrenOf(bytes, tbs);
  const first = fields[0] && fields[0].tag === 0xa0 ? 1 : 0;  // [0] version, when present
  expect(fields[first], 0x02);  // serialNumber
  expect(fields[first + 1], 0x30);  // signature
  expect(fields[first + 2], 0x30);  // issuer
  const validity = childrenOf(bytes, expect(fields[first + 3], 0x30));
  expect(fields[first + 4], 0x30);  // subject
  const spki = expect(fields[first + 5], 0x30);
  if (validity.length !== 2) throw new Error('not an X.509 certificate');
  const algorithm = expect(childrenOf(bytes, spki)[0], 0x30);
  const oid = expect(childrenOf(bytes, algorithm)[0], 0x06);
  const isRSA = oid.end - oid.start === rsaEncryption.length && rsaEncryption.every((byte, index) => bytes[oid.start + index] === byte);
  return {
    spki: bytes.slice(spki.start, spki.end),
    isRSA,
    notBefore: parseTime(bytes, validity[0]),
    notAfter: parseTime(bytes, validity[1]),
  };
}

function pemBlock(text, label) {
  const match = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text);
  if (!match) throw new Error(`the controller's answer holds no ${label}`);
  return Uint8Array.from(atob(match[1].replace(/\s+/g, '')), (character) => character.charCodeAt(0));
}

const hex = (bytes) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

/** Refuses, as the CLI does, a certificate that is expired or not yet valid (wire format §2.2, rule 6). */
function checkDates(parsed, now = new Date()) {
  if (now > parsed.notAfter) throw new Error(`the cluster's certificate expired on ${parsed.notAfter.toISOString()}; reload once the controller has renewed it`);
  if (now < parsed.notBefore) throw new Error(`the cluster's certificate is not valid before ${parsed.notBefore.toISOString()} (is this computer's clock right?)`);
}

/** A certificate (PEM) as the page seals to it: the imported key, its size and key id, its validity; or why not. */
async function sealingKeyFrom(pem) {
  const parsed = parseCertificate(pemBlock(pem, 'CERTIFICATE'));
  if (!parsed.isRSA) throw new Error("the certificate's key is not RSA; format v1 seals to RSA keys only");
  checkDates(parsed);
  const key = await crypto.subtle.importKey('spki', parsed.spki, { name: 'RSA-OAEP', hash: 'SHA-256' }, true, ['encrypt']);
  const bits = key.algorithm.modulusLength;
  // As the CLI: RSA of 2,048 to 16,384 bits (the two length bytes of a v1 value, and bounded work).
  if (bits < 2048 || bits > 16384) throw new Error(`the certificate's key is RSA-${bits}; sealing needs 2,048 to 16,384 bits`);
  // The key id of wire format §3: SHA-256 of the DER SubjectPublicKeyInfo, as the browser encodes it (canonical).
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', key));
  const keyID = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', spki)).subarray(0, 8));
  return { key, bits, keyID, notBefore: parsed.notBefore, notAfter: parsed.notAfter };
}

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
    certificate = await sealingKeyFrom(await response.text());
    status.textContent = `Sealing to the cluster's key ${certificate.keyID} (RSA-${certificate.bits}), certificate valid until ${certificate.notAfter.toISOString().slice(0, 10)}.`;
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
    const k = Math.ceil(certificate.bits / 8);
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

/**
 * A YAML scalar: plain only when no YAML reader (YAML 1.1, go-yaml, kubectl) can take it for anything but this string
 * — it starts with a letter, holds only `- _ . /` besides letters and digits, and is no boolean or null word — else
 * double-quoted with everything outside printable ASCII escaped. Stricter than the CLI's rule (it quotes a few
 * strings the CLI leaves plain), never looser: `0b1`, `2001-12-14` or `1e3` are always quoted.
 */
function scalar(text) {
  if (/^[A-Za-z][-A-Za-z0-9_./]*$/.test(text) && !/^(?:y|n|yes|no|true|false|on|off|null)$/i.test(text)) return text;
  let quoted = '"';
  for (const character of text) {
    const code = character.codePointAt(0);
    if (character === '"' || character === '\\') quoted += '\\' + character;
    else if (code >= 0x20 && code < 0x7f) quoted += character;
    else if (code <= 0xffff) quoted += '\\u' + code.toString(16).padStart(4, '0');
    else quoted += '\\U' + code.toString(16).padStart(8, '0');
  }
  return quoted + '"';
}

function manifestYAML({ namespace, name, scope, type, values }) {
  const scopeAnnotation = scope === 'namespace-wide' ? 'sealedsecrets.bitnami.com/namespace-wide'
    : scope === 'cluster-wide' ? 'sealedsecrets.bitnami.com/cluster-wide' : null;
  const lines = ['---', 'apiVersion: bitnami.com/v1alpha1', 'kind: SealedSecret', 'metadata:', '  annotations:',
    `    cachet.dev/sealed-by: ${scalar(certificate.keyID)}`];
  if (scopeAnnotation) lines.push(`    ${scopeAnnotation}: "true"`);
  lines.push(`  name: ${scalar(name)}`, `  namespace: ${scalar(namespace)}`, 'spec:', '  encryptedData:');
  for (const key of Array.from(values.keys()).sort()) lines.push(`    ${scalar(key)}: ${values.get(key)}`);
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

/** What the output was sealed as (the form may have changed since): for the download's name and type. */
let sealedAs = null;

function clearOutput() {
  $('result').hidden = true;
  $('output').value = '';
  sealedAs = null;
}

async function seal() {
  const error = $('error');
  error.hidden = true;
  error.textContent = '';
  clearOutput();
  // As typed: the CLI does not trim either, and a stray space is named in the message (quoted).
  const namespace = $('namespace').value;
  const name = $('name').value;
  const scope = $('scope').value;
  const type = $('type').value;
  const raw = $('kind-raw').checked;
  try {
    if (raw) {
      // As `cachet seal --raw`: the scope says which of namespace and name the value is bound to; what is given is
      // checked all the same.
      if (scope !== 'cluster-wide' || namespace !== '') checkNamespace(namespace);
      if (scope === 'strict' || name !== '') checkName(name);
    } else {
      checkNamespace(namespace);
      checkName(name);
    }
    if (type !== '' && !/^[\x21-\x7e]{1,253}$/.test(type)) {
      throw new Error(`type ${quoted(type)} is not valid: printable ASCII without spaces, at most 253 (Opaque, kubernetes.io/tls, …)`);
    }
    const items = await readItems();
    if (raw && items.length !== 1) throw new Error('one sealed value seals one item: remove the others, or choose a SealedSecret');
    checkDates(certificate);
    const label = scopeLabel(scope, namespace, name);
    // A Map, not an object: an item may be named __proto__.
    const values = new Map();
    for (const item of items) values.set(item.key, await sealValue(label, item.value));
    $('output').value = raw ? values.get(items[0].key) : manifestYAML({ namespace, name, scope, type, values });
    sealedAs = { raw, name: name || 'secret' };
    $('result').hidden = false;
  } catch (problem) {
    error.textContent = problem.message;
    error.hidden = false;
  }
}

function download() {
  if (!sealedAs) return;
  const blob = new Blob([$('output').value], { type: sealedAs.raw ? 'text/plain' : 'application/yaml' });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = sealedAs.raw ? `${sealedAs.name}.sealed.txt` : `${sealedAs.name}.sealed.yaml`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

async function copy() {
  const output = $('output');
  let copied = true;
  try {
    await navigator.clipboard.writeText(output.value);
  } catch {
    output.select();
    copied = document.execCommand('copy');
  }
  $('copied').textContent = copied ? 'Copied.' : 'Could not copy: select the text and copy it yourself.';
  setTimeout(() => { $('copied').textContent = ''; }, 3000);
}

/** Forgets every value typed or chosen, and the output. */
function clearValues() {
  for (const row of Array.from($('items').children)) row.remove();
  addItem();
  clearOutput();
}

document.addEventListener('DOMContentLoaded', () => {
  addItem();
  // An output that no longer matches the form is taken away rather than copied by mistake.
  for (const section of ['fields', 'items-section', 'output-kind']) {
    $(section).addEventListener('input', clearOutput);
    $(section).addEventListener('change', clearOutput);
  }
  // Leaving the page forgets the values (the back/forward cache would otherwise keep them in memory).
  window.addEventListener('pagehide', clearValues);
  $('add-item').addEventListener('click', () => addItem().querySelector('.item-key').focus());
  $('seal').addEventListener('click', seal);
  $('download').addEventListener('click', download);
  $('copy').addEventListener('click', copy);
  $('clear').addEventListener('click', clearValues);
  loadCertificate();
});
