'use strict';
// Menu wiring and the Set up… dialog.

const test = require('node:test');
const assert = require('node:assert/strict');
const { createHarness } = require('./harness');

const SHEET = [
  ['day', 'episode_id', 'source', 'downloads', 'hub_status'],
  ['2025-01-06', '007', 'manual', '1,204', ''],
];

test('onOpen builds the Hub menu with all five items bound to the right functions', () => {
  const h = createHarness({ sheets: { metrics_daily: SHEET } });
  h.call('onOpen');
  assert.deepEqual(h.env.menus, [{
    name: 'Hub',
    items: [
      { caption: 'Push selected rows', functionName: 'pushSelectedRows' },
      { caption: 'Push changed rows', functionName: 'pushChangedRows' },
      { separator: true },
      { caption: 'Set up…', functionName: 'setUp' },
      { caption: 'Install automatic push', functionName: 'installTrigger' },
      { caption: 'Remove automatic push', functionName: 'removeTrigger' },
    ],
  }]);
  for (const item of h.env.menus[0].items.filter((i) => i.functionName)) {
    assert.equal(typeof h.context[item.functionName], 'function', item.functionName + ' must be a global function');
    assert.ok(!item.functionName.endsWith('_'), 'private functions cannot be menu targets');
  }
});

test('setUp stores endpoint, tenant and secret in script properties and writes nothing into the sheet', () => {
  const h = createHarness({ sheets: { metrics_daily: SHEET } });
  const before = h.sheet('metrics_daily').dump();
  h.env.promptAnswers.push(
    { button: 'OK', text: ' https://hub.example.com/ ' },
    { button: 'OK', text: 'acme' },
    { button: 'OK', text: 'sheets-secret-123' },
  );
  h.call('setUp');
  assert.deepEqual(h.env.properties, {
    HUB_ENDPOINT: 'https://hub.example.com',
    HUB_TENANT: 'acme',
    HUB_SECRET: 'sheets-secret-123',
  });
  assert.equal(h.env.prompts.length, 3);
  assert.deepEqual(h.sheet('metrics_daily').dump(), before);
  assert.deepEqual(h.env.calls.filter((c) => c.op !== 'read'), [], 'no cell may be written');
  assert.ok(!JSON.stringify(h.sheet('metrics_daily').dump()).includes('sheets-secret-123'));
  assert.match(h.env.alerts[0].join(' '), /https:\/\/hub\.example\.com\/webhooks\/sheets\/acme/);
});

test('setUp run again keeps blank answers and never shows the stored secret', () => {
  const h = createHarness({ sheets: { metrics_daily: SHEET } });
  h.configure('https://hub.example.com', 'acme', 'old-secret');
  h.env.promptAnswers.push({ button: 'OK', text: '' }, { button: 'OK', text: 'globex' }, { button: 'OK', text: '' });
  h.call('setUp');
  assert.deepEqual(h.env.properties, { HUB_ENDPOINT: 'https://hub.example.com', HUB_TENANT: 'globex', HUB_SECRET: 'old-secret' });
  assert.match(h.env.prompts[0].message, /Current: https:\/\/hub\.example\.com/);
  assert.ok(!h.env.prompts.some((p) => p.message.includes('old-secret')));
});

test('setUp stores nothing when cancelled or given an invalid answer', () => {
  const cancelled = createHarness({ sheets: { metrics_daily: SHEET } });
  cancelled.env.promptAnswers.push({ button: 'OK', text: 'https://hub.example.com' }, { button: 'CANCEL', text: 'acme' });
  cancelled.call('setUp');
  assert.deepEqual(cancelled.env.properties, {});
  assert.equal(cancelled.env.prompts.length, 2);

  const badUrl = createHarness({ sheets: { metrics_daily: SHEET } });
  badUrl.env.promptAnswers.push({ button: 'OK', text: 'hub.example.com' });
  badUrl.call('setUp');
  assert.deepEqual(badUrl.env.properties, {});
  assert.equal(badUrl.env.alerts.length, 1);

  const badTenant = createHarness({ sheets: { metrics_daily: SHEET } });
  badTenant.env.promptAnswers.push({ button: 'OK', text: 'https://hub.example.com' }, { button: 'OK', text: 'acme/../x' });
  badTenant.call('setUp');
  assert.deepEqual(badTenant.env.properties, {});
});
