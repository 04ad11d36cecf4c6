'use strict';
// The document lock serialises pushes; without it nothing is sent and pending rows wait for the next push.

const test = require('node:test');
const assert = require('node:assert/strict');
const { createHarness } = require('./harness');

function harness(options = {}) {
  const h = createHarness(Object.assign({
    sheets: {
      metrics_daily: [
        ['day', 'episode_id', 'source', 'downloads', 'hub_status'],
        ['2025-01-06', '007', 'manual', '1,204', 'pending'],
        ['2025-01-06', '008', 'manual', '980', 'ok: inserted'],
      ],
    },
  }, options));
  h.configure();
  return h;
}

test('when tryLock fails nothing is sent and rows stay pending', () => {
  const h = harness({ lockAvailable: false });
  h.call('pushChangedRows');
  assert.deepEqual(h.env.lockAttempts, [30000]);
  assert.equal(h.env.requests.length, 0);
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'), ['pending', 'ok: inserted']);
  assert.equal(h.env.lockReleases, 0, 'a lock never taken is not released');

  // An edit while another push holds the lock: the edited row is marked pending and waits.
  const e = h.edit('metrics_daily', 'D3', '1,001');
  h.call('onEditInstalled', e);
  assert.equal(h.env.requests.length, 0);
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'), ['pending', 'pending']);

  // The next push that gets the lock takes both.
  h.env.lockAvailable = true;
  h.call('pushChangedRows');
  assert.deepEqual(h.bodies()[0].rows.map((r) => r.row_number), [2, 3]);
});

test('the lock is released after a successful push', () => {
  const h = harness();
  h.call('pushChangedRows');
  assert.equal(h.env.requests.length, 1);
  assert.equal(h.env.lockReleases, 1);
  assert.equal(h.env.lockHeld, false);
});

test('the lock is released when fetch keeps throwing', () => {
  const h = harness();
  for (let i = 0; i < 6; i++) h.respond({ throws: 'DNS error: hub.example.com' });
  h.call('pushChangedRows');
  assert.equal(h.env.requests.length, 6);
  assert.equal(h.env.lockReleases, 1);
  assert.equal(h.env.lockHeld, false);
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'), ['pending', 'ok: inserted']);
});

test('the lock is released when an unexpected exception escapes the push', () => {
  const h = harness();
  h.env.failHmac = 'Exception: Service error: Utilities';
  assert.throws(() => h.call('pushChangedRows'), /Service error/);
  assert.equal(h.env.lockReleases, 1);
  assert.equal(h.env.lockHeld, false);
});
