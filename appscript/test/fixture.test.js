'use strict';
// Writes tests/fixtures/appscript_push.json: a real push, replayed by the Python suite against the Flask webhook.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { createHarness } = require('./harness');

const FIXTURE = path.join(__dirname, '..', '..', 'tests', 'fixtures', 'appscript_push.json');
const SECRET = 'sheets-fixture-secret';
const TENANT = 'acme';
const ENDPOINT = 'http://hub.test';

function recordPush() {
  const h = createHarness({
    spreadsheetId: '1FixtureSpreadsheetId_acme_metrics',
    now: Date.UTC(2025, 0, 8, 9, 30, 0),
    uuids: ['6f1c2a9e-6b7d-4c1e-9a55-0c8e2d4b7f10'],
    locale: 'en_US',
    timeZone: 'Etc/UTC',
    sheets: {
      metrics_daily: [
        ['day', 'podcast_id', 'episode_id', 'source', 'downloads', 'listeners', 'completion_rate', 'ctr', 'conversions', 'revenue', 'hub_status'],
        [{ v: new Date('2025-01-06T00:00:00Z'), d: '2025-01-06' }, 'pod-1', { v: 7, d: '007' }, 'manual', { v: 1204, d: '1,204' }, '980', { v: 0.85, d: '85%' }, '0.031', '4', '119.96', ''],
        ['2025-01-06', 'pod-1', '008', 'manual', '2,310', '1,745', '81%', '0.027', '6', '179.94', 'pending'],
        ['2025-01-07', 'pod-2', 'ep-0042', 'manual', '512', '433', '77.5%', '0.019', '1', '29.99', 'error: 422 day must look like 2025-01-31'],
      ],
    },
  });
  h.configure(ENDPOINT, TENANT, SECRET);
  h.respond({ code: 202, body: { import_id: 'imp-fixture', status_url: '/api/imports/imp-fixture' } });
  h.call('pushChangedRows');
  assert.equal(h.env.requests.length, 1);
  return h;
}

function fixtureFrom(h) {
  const { url, params } = h.env.requests[0];
  return {
    url,
    method: params.method,
    // What goes on the wire: UrlFetchApp sends contentType as the Content-Type header.
    headers: Object.assign({ 'Content-Type': params.contentType }, params.headers),
    body: params.payload,
    secret: SECRET,
    tenant: TENANT,
    timestamp: params.headers['X-Hub-Timestamp'],
  };
}

test('the real push is recorded in tests/fixtures/appscript_push.json, deterministically', () => {
  const h = recordPush();
  const fixture = fixtureFrom(h);
  assert.deepEqual(fixtureFrom(recordPush()), fixture, 'two runs must record the same request');

  assert.equal(fixture.url, 'http://hub.test/webhooks/sheets/acme');
  assert.equal(fixture.method, 'post');
  assert.equal(fixture.timestamp, '1736328600');
  const hex = crypto.createHmac('sha256', SECRET).update(fixture.timestamp + '.' + fixture.body, 'utf8').digest('hex');
  assert.deepEqual(fixture.headers, {
    'Content-Type': 'application/json',
    'X-Hub-Timestamp': '1736328600',
    'X-Hub-Signature-256': 'sha256=' + hex,
  });
  assert.deepEqual(JSON.parse(fixture.body), {
    push_id: '6f1c2a9e-6b7d-4c1e-9a55-0c8e2d4b7f10',
    spreadsheet_id: '1FixtureSpreadsheetId_acme_metrics',
    sheet: 'metrics_daily',
    locale: 'en_US',
    time_zone: 'Etc/UTC',
    header: ['day', 'podcast_id', 'episode_id', 'source', 'downloads', 'listeners', 'completion_rate', 'ctr', 'conversions', 'revenue'],
    rows: [
      { row_number: 2, values: ['2025-01-06', 'pod-1', '007', 'manual', '1,204', '980', '85%', '0.031', '4', '119.96'],
        typed: ['2025-01-06', null, 7, null, 1204, null, 0.85, null, null, null] },
      { row_number: 3, values: ['2025-01-06', 'pod-1', '008', 'manual', '2,310', '1,745', '81%', '0.027', '6', '179.94'],
        typed: [null, null, null, null, null, null, null, null, null, null] },
      { row_number: 4, values: ['2025-01-07', 'pod-2', 'ep-0042', 'manual', '512', '433', '77.5%', '0.019', '1', '29.99'],
        typed: [null, null, null, null, null, null, null, null, null, null] },
    ],
  });
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'),
    ['sent (import imp-fixture)', 'sent (import imp-fixture)', 'sent (import imp-fixture)']);

  fs.mkdirSync(path.dirname(FIXTURE), { recursive: true });
  fs.writeFileSync(FIXTURE, JSON.stringify(fixture, null, 2) + '\n');
  assert.deepEqual(JSON.parse(fs.readFileSync(FIXTURE, 'utf8')), fixture);
});
