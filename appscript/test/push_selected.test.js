'use strict';
// "Push selected rows": which rows go, and the exact body the hub receives.

const test = require('node:test');
const assert = require('node:assert/strict');
const { createHarness } = require('./harness');

function metricsHarness() {
  const h = createHarness({
    locale: 'de_DE',
    timeZone: 'Europe/Berlin',
    sheets: {
      metrics_daily: [
        ['day', 'podcast_id', 'episode_id', 'hub_synced_at', 'source', 'downloads', 'revenue', 'hub_status'],
        // Typed values differ from what is displayed: the displayed text goes as `values`, the typed
        // values beside it as `typed` (the day in the sheet's time zone: 23:00Z is 6 January in Berlin).
        [{ v: new Date('2025-01-05T23:00:00Z'), d: '2025-01-06' }, 'pod-1', { v: 7, d: '007' }, '2025-01-06T09:00:00Z',
          'manual', { v: 1204, d: '1,204' }, { v: 119.96, d: '$119.96' }, 'ok: inserted'],
        ['2025-01-06', 'pod-2', 'ep-112', '', 'manual', '2,517', '269.91', ''],
        ['', '', '', '2025-01-05T10:00:00Z', '', '', '', 'ok: inserted'],
        ['2025-01-07', 'pod-1', { v: 8, d: '008' }, '', 'manual', '1,187', '89.97', 'error: 422 bad day'],
      ],
      notes: [['anything'], ['x']],
    },
  });
  h.configure('https://hub.example.com/', 'acme', 'test-secret');
  return h;
}

test('only selected, non-header, non-empty rows are sent, with exactly the specified body', () => {
  const h = metricsHarness();
  const sheet = h.sheet('metrics_daily');
  sheet.select('A1:C2', 'B4:B5');
  let statusWhileSending = null;
  h.respond(() => {
    statusWhileSending = sheet.column('hub_status');
    return { code: 202, body: { import_id: 'imp-77', status_url: '/api/imports/imp-77' } };
  });

  h.call('pushSelectedRows');

  assert.equal(h.env.requests.length, 1);
  const { url, params } = h.env.requests[0];
  assert.equal(url, 'https://hub.example.com/webhooks/sheets/acme');
  assert.equal(params.method, 'post');
  assert.equal(params.contentType, 'application/json');
  assert.equal(params.muteHttpExceptions, true);
  assert.deepEqual(Object.keys(params.headers).sort(), ['X-Hub-Signature-256', 'X-Hub-Timestamp']);

  const body = JSON.parse(params.payload);
  assert.deepEqual(Object.keys(body), ['push_id', 'spreadsheet_id', 'sheet', 'locale', 'time_zone', 'header', 'rows']);
  assert.deepEqual(body, {
    push_id: '00000000-0000-4000-8000-000000000001',
    spreadsheet_id: 'sheet-id-123',
    sheet: 'metrics_daily',
    locale: 'de_DE',
    time_zone: 'Europe/Berlin',
    header: ['day', 'podcast_id', 'episode_id', 'source', 'downloads', 'revenue'],
    rows: [
      { row_number: 2, values: ['2025-01-06', 'pod-1', '007', 'manual', '1,204', '$119.96'],
        typed: ['2025-01-06', null, 7, null, 1204, 119.96] },
      { row_number: 5, values: ['2025-01-07', 'pod-1', '008', 'manual', '1,187', '89.97'],
        typed: [null, null, 8, null, null, null] },
    ],
  });
  assert.deepEqual(Object.keys(body.rows[0]), ['row_number', 'values', 'typed']);
  assert.ok(!params.payload.includes('hub_synced_at') && !params.payload.includes('2025-01-06T09:00:00Z'));

  assert.deepEqual(statusWhileSending, ['sending', '', 'ok: inserted', 'sending']);
  assert.deepEqual(sheet.column('hub_status'), ['sent (import imp-77)', '', 'ok: inserted', 'sent (import imp-77)']);
  assert.deepEqual(sheet.column('hub_synced_at'), ['2025-01-06T09:00:00Z', '', '2025-01-05T10:00:00Z', '']);
  assert.equal(h.env.lockHeld, false);
  assert.match(h.env.toasts.at(-1).message, /2 row\(s\) sent in 1 push/);
});

test('a whole-column selection sends every non-empty data row once', () => {
  const h = metricsHarness();
  h.sheet('metrics_daily').select('B:B');
  h.call('pushSelectedRows');
  assert.deepEqual(h.bodies()[0].rows.map((r) => r.row_number), [2, 3, 5]);
});

test('hub_status is added at the end of the header when missing, and never sent', () => {
  const h = createHarness({
    sheets: { io_bookings: [['io_id', 'flight_start', 'flight_end'], ['IO-1', '2025-01-06', '2025-01-19']] },
  });
  h.configure();
  h.sheet('io_bookings').select('A2');
  h.call('pushSelectedRows');
  assert.deepEqual(h.sheet('io_bookings').rowValues(1), ['io_id', 'flight_start', 'flight_end', 'hub_status']);
  assert.deepEqual(h.bodies()[0].header, ['io_id', 'flight_start', 'flight_end']);
  assert.deepEqual(h.bodies()[0].rows, [{ row_number: 2, values: ['IO-1', '2025-01-06', '2025-01-19'], typed: [null, null, null] }]);
  assert.deepEqual(h.sheet('io_bookings').column('hub_status'), ['sent (import imp-1)']);
});

test('a tab that is not a table, or a hub that is not set up, sends nothing', () => {
  const h = metricsHarness();
  h.sheet('notes').select('A2');
  h.call('pushSelectedRows');
  assert.equal(h.env.requests.length, 0);
  assert.match(h.env.toasts.at(-1).message, /not a hub table/);

  const unset = createHarness({ sheets: { deals: [['campaign_id', 'budget'], ['camp-1', '100']] } });
  unset.sheet('deals').select('A2');
  unset.call('pushSelectedRows');
  assert.equal(unset.env.requests.length, 0);
  assert.match(unset.env.toasts.at(-1).message, /Set up/);
});
