'use strict';
// Backoff and outcome handling: 429/5xx/network errors are retried, other 4xx are final.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { createHarness } = require('./harness');

function harness(rowCount = 2) {
  const rows = [['day', 'episode_id', 'source', 'downloads', 'hub_status']];
  for (let i = 0; i < rowCount; i++) rows.push(['2025-01-06', 'ep-' + i, 'manual', String(100 + i), '']);
  const h = createHarness({ sheets: { metrics_daily: rows } });
  h.configure('https://hub.example.com', 'acme', 'test-secret');
  return h;
}

test('429 with Retry-After, then 503, then 202: waits 3 s then 2 s, re-signs each attempt, rows end sent', () => {
  const h = harness();
  h.respond(
    { code: 429, body: { error: 'slow down' }, headers: { 'Retry-After': '3' } },
    { code: 503, body: 'upstream unavailable' },
    { code: 202, body: { import_id: 'imp-42', status_url: '/api/imports/imp-42' } },
  );
  h.call('pushChangedRows');

  assert.deepEqual(h.env.sleeps, [3000, 2000]);
  assert.equal(h.env.requests.length, 3);
  const payloads = new Set(h.env.requests.map((r) => r.params.payload));
  assert.equal(payloads.size, 1, 'a retry resends the same body (same push_id)');
  const stamps = h.env.requests.map((r) => Number(r.params.headers['X-Hub-Timestamp']));
  assert.deepEqual([stamps[1] - stamps[0], stamps[2] - stamps[0]], [3, 5], 'each attempt carries a fresh timestamp');
  for (const { params } of h.env.requests) {
    const ts = params.headers['X-Hub-Timestamp'];
    const hex = crypto.createHmac('sha256', 'test-secret').update(ts + '.' + params.payload).digest('hex');
    assert.equal(params.headers['X-Hub-Signature-256'], 'sha256=' + hex);
  }
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'), ['sent (import imp-42)', 'sent (import imp-42)']);
});

test('after six failures (five retries at 1, 2, 4, 8, 16 s) the rows stay pending', () => {
  const h = harness();
  for (let i = 0; i < 6; i++) h.respond({ code: 503, body: 'down' });
  h.respond({ code: 202, body: { import_id: 'never' } });
  h.call('pushChangedRows');

  assert.equal(h.env.requests.length, 6);
  assert.deepEqual(h.env.sleeps, [1000, 2000, 4000, 8000, 16000]);
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'), ['pending', 'pending']);
  assert.match(h.env.toasts.at(-1).message, /HTTP 503.*2 row\(s\) left pending/);
  assert.ok(h.env.logs.some((l) => /gave up/.test(l)));
});

test('when the hub stays down, later batches are not attempted and all their rows stay pending', () => {
  const h = harness(600);
  for (let i = 0; i < 6; i++) h.respond({ code: 502, body: 'bad gateway' });
  h.call('pushChangedRows');
  assert.equal(h.env.requests.length, 6);
  const status = h.sheet('metrics_daily').column('hub_status');
  assert.equal(status.length, 600);
  assert.ok(status.every((s) => s === 'pending'));
});

test('a 422 writes "error: 422 <hub error>" on every row of the batch and is not retried', () => {
  const h = harness();
  h.respond({ code: 422, body: { error: 'row 3: day must look like 2025-01-31' } });
  h.call('pushChangedRows');
  assert.equal(h.env.requests.length, 1);
  assert.deepEqual(h.env.sleeps, []);
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'),
    ['error: 422 row 3: day must look like 2025-01-31', 'error: 422 row 3: day must look like 2025-01-31']);
});

test('a 4xx without a JSON error field records the raw text', () => {
  const h = harness(1);
  h.respond({ code: 401, body: 'invalid signature\n' });
  h.call('pushChangedRows');
  assert.equal(h.env.requests.length, 1);
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'), ['error: 401 invalid signature']);
});

test('a thrown network error is retried', () => {
  const h = harness(1);
  h.respond({ throws: 'Address unavailable: https://hub.example.com/webhooks/sheets/acme' }, { code: 202, body: { import_id: 'imp-5' } });
  h.call('pushChangedRows');
  assert.equal(h.env.requests.length, 2);
  assert.deepEqual(h.env.sleeps, [1000]);
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'), ['sent (import imp-5)']);
});

test('Retry-After is capped at 60 s; a date-valued Retry-After falls back to the exponential delay', () => {
  const h = harness(1);
  h.respond(
    { code: 429, headers: { 'retry-after': '600' } },
    { code: 429, headers: { 'Retry-After': 'Wed, 21 Oct 2025 07:28:00 GMT' } },
    { code: 202, body: { import_id: 'imp-6' } },
  );
  h.call('pushChangedRows');
  assert.deepEqual(h.env.sleeps, [60000, 2000]);
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'), ['sent (import imp-6)']);
});
