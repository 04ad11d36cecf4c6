'use strict';
// The signature header must verify with a plain HMAC-SHA256 over "<timestamp>.<body>".

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { createHarness, DEFAULT_NOW } = require('./harness');

function pushOne(secret, values) {
  const h = createHarness({ sheets: { deals: [['campaign_id', 'name', 'budget', 'hub_status'], [...values, '']] } });
  h.configure('https://hub.example.com', 'acme', secret);
  h.sheet('deals').select('A2');
  h.call('pushSelectedRows');
  assert.equal(h.env.requests.length, 1);
  return h.env.requests[0];
}

test('X-Hub-Signature-256 is sha256=<hex HMAC of timestamp "." body> and the timestamp is now in seconds', () => {
  const { params } = pushOne('test-secret', ['D-1', 'Acme', '1,000.00']);
  const timestamp = params.headers['X-Hub-Timestamp'];
  assert.equal(timestamp, String(Math.floor(DEFAULT_NOW / 1000)));
  const digest = crypto.createHmac('sha256', 'test-secret').update(timestamp + '.' + params.payload, 'utf8').digest();
  assert.equal(params.headers['X-Hub-Signature-256'], 'sha256=' + digest.toString('hex'));
  assert.match(params.headers['X-Hub-Signature-256'], /^sha256=[0-9a-f]{64}$/);
  const other = crypto.createHmac('sha256', 'wrong').update(timestamp + '.' + params.payload).digest('hex');
  assert.notEqual(params.headers['X-Hub-Signature-256'], 'sha256=' + other);
});

test('hex conversion is right for bytes at and above 0x80 (Apps Script returns them negative)', () => {
  const h = createHarness();
  assert.equal(h.call('bytesToHex_', [-128, -1, 0, 15, 16, 127, -16, 1]), '80ff000f107ff001');
  // Many real digests: every one must verify, and between them they hold high bytes and low bytes.
  let highBytes = 0;
  let lowBytes = 0;
  for (let i = 0; i < 25; i++) {
    const secret = 'secret-' + i;
    const { params } = pushOne(secret, ['D-' + i, 'Acme', String(i)]);
    const timestamp = params.headers['X-Hub-Timestamp'];
    const digest = crypto.createHmac('sha256', secret).update(timestamp + '.' + params.payload).digest();
    assert.equal(params.headers['X-Hub-Signature-256'], 'sha256=' + digest.toString('hex'));
    highBytes += digest.filter((b) => b >= 0x80).length;
    lowBytes += digest.filter((b) => b < 0x10).length;
  }
  assert.ok(highBytes > 0 && lowBytes > 0);
});

test('non-ASCII cell text travels as \\u escapes: the signed body is plain ASCII and parses back exactly', () => {
  const advertiser = 'Café Müller – Épisode 🎙';
  const { params } = pushOne('test-secret', ['D-9', advertiser, '99']);
  assert.match(params.payload, /^[\x20-\x7e]*$/);
  assert.equal(JSON.parse(params.payload).rows[0].values[1], advertiser);
  const timestamp = params.headers['X-Hub-Timestamp'];
  const digest = crypto.createHmac('sha256', 'test-secret').update(Buffer.from(timestamp + '.' + params.payload, 'utf8')).digest('hex');
  assert.equal(params.headers['X-Hub-Signature-256'], 'sha256=' + digest);
});
