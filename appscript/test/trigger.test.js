'use strict';
// The installable on-edit trigger: install once, remove, and what an edit pushes.

const test = require('node:test');
const assert = require('node:assert/strict');
const { createHarness } = require('./harness');

function harness() {
  const h = createHarness({
    sheets: {
      metrics_daily: [
        ['day', 'episode_id', 'source', 'downloads', 'hub_status', 'hub_synced_at'],
        ['2025-01-06', '007', 'manual', '1,204', 'ok: inserted', '2025-01-06T09:00:00Z'],
        ['2025-01-06', '008', 'manual', '980', 'ok: inserted', '2025-01-06T09:00:00Z'],
        ['2025-01-07', '007', 'manual', '1,100', 'error: 422 bad', ''],
        ['2025-01-07', '008', 'manual', '870', 'pending', ''],
      ],
      notes: [['free text'], ['hello']],
    },
    uiAvailable: false, // triggers cannot show dialogs; the script must not try
  });
  h.configure();
  return h;
}

test('installTrigger creates exactly one onEdit trigger even when called twice; removeTrigger removes it', () => {
  const h = createHarness({ sheets: { metrics_daily: [['day']] }, spreadsheetId: 'ss-42' });
  assert.equal(h.call('installTrigger'), true);
  assert.equal(h.call('installTrigger'), false);
  assert.equal(h.env.triggers.length, 1);
  const trigger = h.env.triggers[0];
  assert.equal(trigger.getHandlerFunction(), 'onEditInstalled');
  assert.equal(trigger.getEventType(), 'ON_EDIT');
  assert.equal(trigger.getTriggerSourceId(), 'ss-42');
  assert.equal(typeof h.context.onEditInstalled, 'function');

  // Someone else's trigger in the project is left alone.
  h.context.ScriptApp.newTrigger('somethingElse').forSpreadsheet(h.ss).onOpen().create();
  assert.equal(h.call('removeTrigger'), 1);
  assert.deepEqual(h.env.triggers.map((t) => t.getHandlerFunction()), ['somethingElse']);
  assert.equal(h.call('removeTrigger'), 0);
});

test('onEditInstalled marks the edited row pending and pushes it with the tab\'s other pending rows', () => {
  const h = harness();
  let statusAtSend = null;
  h.respond(() => {
    statusAtSend = h.sheet('metrics_daily').column('hub_status');
    return { code: 202, body: { import_id: 'imp-edit' } };
  });
  const e = h.edit('metrics_daily', 'D3', '1,001');
  h.call('onEditInstalled', e);

  assert.equal(h.env.requests.length, 1);
  const body = h.bodies()[0];
  assert.deepEqual(body.header, ['day', 'episode_id', 'source', 'downloads']);
  assert.deepEqual(body.rows.map((r) => ({ row_number: r.row_number, values: r.values })), [
    { row_number: 3, values: ['2025-01-06', '008', 'manual', '1,001'] },
    { row_number: 5, values: ['2025-01-07', '008', 'manual', '870'] },
  ]);
  assert.deepEqual(statusAtSend, ['ok: inserted', 'sending', 'error: 422 bad', 'sending']);
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'),
    ['ok: inserted', 'sent (import imp-edit)', 'error: 422 bad', 'sent (import imp-edit)']);
});

test('a row edited again during its own push stays pending instead of being marked sent', () => {
  const h = harness();
  h.respond(() => {
    // The user edits row 3 while the push is in flight; their edit trigger marks it pending.
    h.sheet('metrics_daily')._set(3, 4, { v: '1,002', d: '1,002' });
    h.sheet('metrics_daily')._set(3, 5, { v: 'pending', d: 'pending' });
    return { code: 202, body: { import_id: 'imp-1' } };
  });
  h.call('onEditInstalled', h.edit('metrics_daily', 'D3', '1,001'));
  assert.deepEqual(h.sheet('metrics_daily').column('hub_status'),
    ['ok: inserted', 'pending', 'error: 422 bad', 'sent (import imp-1)']);
});

test('edits to hub_status, hub_synced_at, the header or a non-table tab do nothing', () => {
  const h = harness();
  const before = h.sheet('metrics_daily').dump();
  h.call('onEditInstalled', h.edit('metrics_daily', 'E2', 'ok: inserted'));
  h.call('onEditInstalled', h.edit('metrics_daily', 'E2:F3'));
  h.call('onEditInstalled', h.edit('metrics_daily', 'F4', '2025-01-08T00:00:00Z'));
  h.call('onEditInstalled', h.edit('metrics_daily', 'B1', 'episode_id'));
  h.call('onEditInstalled', h.edit('notes', 'A2', 'hi'));
  assert.equal(h.env.requests.length, 0);
  assert.equal(h.env.lockAttempts.length, 0);
  const after = h.sheet('metrics_daily').dump();
  after[3][5] = before[3][5]; // the test's own edit of F4
  assert.deepEqual(after, before);
});

test('a paste across many rows pushes them together and skips rows left empty', () => {
  const h = harness();
  const e = h.edit('metrics_daily', 'A6:D8', [
    ['2025-01-08', '007', 'manual', '1,300'],
    ['', '', '', ''],
    ['2025-01-08', '008', 'manual', '990'],
  ]);
  h.call('onEditInstalled', e);
  assert.deepEqual(h.bodies()[0].rows.map((r) => r.row_number), [5, 6, 8]);
  const status = h.sheet('metrics_daily').column('hub_status');
  assert.deepEqual(status.slice(4), ['sent (import imp-1)', '', 'sent (import imp-1)']);
});
