'use strict';
// Pushes are bounded by row count and by body bytes; each has its own push_id.

const test = require('node:test');
const assert = require('node:assert/strict');
const { createHarness } = require('./harness');

function harnessWithRows(header, rows) {
  const h = createHarness({ sheets: { metrics_daily: [header, ...rows] } });
  h.configure();
  return h;
}

test('1203 rows go as pushes of 500, 500 and 203 rows, each with its own push_id', () => {
  const rows = [];
  for (let i = 0; i < 1203; i++) rows.push(['2025-01-06', 'pod-1', 'ep-' + i, 'manual', String(i), '']);
  const h = harnessWithRows(['day', 'podcast_id', 'episode_id', 'source', 'downloads', 'hub_status'], rows);

  h.call('pushChangedRows');

  const bodies = h.bodies();
  assert.deepEqual(bodies.map((b) => b.rows.length), [500, 500, 203]);
  assert.equal(new Set(bodies.map((b) => b.push_id)).size, 3);
  const sent = bodies.flatMap((b) => b.rows.map((r) => r.row_number));
  assert.deepEqual(sent, Array.from({ length: 1203 }, (_, i) => i + 2));
  assert.deepEqual(bodies[2].rows.at(-1), { row_number: 1204, values: ['2025-01-06', 'pod-1', 'ep-1202', 'manual', '1202'],
    typed: [null, null, null, null, null] });

  const status = h.sheet('metrics_daily').column('hub_status');
  assert.equal(status[0], 'sent (import imp-1)');
  assert.equal(status[499], 'sent (import imp-1)');
  assert.equal(status[500], 'sent (import imp-2)');
  assert.equal(status[1202], 'sent (import imp-3)');
  // One "sending" write and one final write per push: never one call per cell.
  const writes = h.statusWrites('metrics_daily');
  assert.equal(writes.length, 6);
  assert.ok(writes.every((w) => w.op === 'setValues'));
});

test('large rows are split so that no body exceeds 900,000 bytes', () => {
  const note = 'x'.repeat(100000);
  const rows = [];
  for (let i = 0; i < 20; i++) rows.push(['2025-01-06', 'ep-' + i, 'manual', note, '']);
  const h = harnessWithRows(['day', 'episode_id', 'source', 'notes', 'hub_status'], rows);

  h.call('pushChangedRows');

  const payloads = h.env.requests.map((r) => r.params.payload);
  const bodies = h.bodies();
  assert.deepEqual(bodies.map((b) => b.rows.length), [8, 8, 4]);
  assert.equal(new Set(bodies.map((b) => b.push_id)).size, 3);
  for (const p of payloads) assert.ok(Buffer.byteLength(p, 'utf8') <= 900000, 'body of ' + Buffer.byteLength(p) + ' bytes');
  // Greedy: one more row would have crossed the limit.
  const rowBytes = Buffer.byteLength(JSON.stringify(bodies[1].rows[0]));
  assert.ok(Buffer.byteLength(payloads[0]) + 1 + rowBytes > 900000);
  assert.deepEqual(bodies.flatMap((b) => b.rows.map((r) => r.row_number)), Array.from({ length: 20 }, (_, i) => i + 2));
  assert.equal(bodies[2].rows[3].values[3], note);
});

test('the byte budget counts bytes on the wire, not characters', () => {
  const note = 'é'.repeat(40000); // 40,000 characters, 240,000 bytes once escaped as \u00e9
  const rows = [];
  for (let i = 0; i < 7; i++) rows.push(['2025-01-06', 'ep-' + i, 'manual', note, '']);
  const h = harnessWithRows(['day', 'episode_id', 'source', 'notes', 'hub_status'], rows);

  h.call('pushChangedRows');

  const bodies = h.bodies();
  assert.deepEqual(bodies.map((b) => b.rows.length), [3, 3, 1]);
  for (const r of h.env.requests) assert.ok(Buffer.byteLength(r.params.payload, 'utf8') <= 900000);
  assert.equal(bodies[0].rows[0].values[3], note);
});

test('a row too large for any push is marked as an error locally and the others still go', () => {
  const h = harnessWithRows(['day', 'episode_id', 'source', 'notes', 'hub_status'], [
    ['2025-01-06', 'ep-1', 'manual', 'short', ''],
    ['2025-01-06', 'ep-2', 'manual', 'y'.repeat(950000), ''],
    ['2025-01-06', 'ep-3', 'manual', 'short', ''],
  ]);
  h.call('pushChangedRows');
  assert.equal(h.env.requests.length, 1);
  assert.deepEqual(h.bodies()[0].rows.map((r) => r.row_number), [2, 4]);
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'),
    ['sent (import imp-1)', 'error: row larger than 900000 bytes', 'sent (import imp-1)']);
});
