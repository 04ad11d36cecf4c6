// Settings shared by every file, and the "Set up…" dialog that keeps the hub secret in Script Properties, never in the sheet.

// A tab is pushed only when its name is one of the hub's tables.
const HUB_TABLES = ['metrics_daily', 'io_bookings', 'deals'];
// Columns owned by the script and the hub: status bookkeeping, never data.
const HUB_STATUS_COLUMN = 'hub_status';
const HUB_SYNCED_COLUMN = 'hub_synced_at';
// The hub rejects larger pushes; staying under both keeps a push well inside its request limit.
const HUB_MAX_ROWS_PER_PUSH = 500;
const HUB_MAX_BODY_BYTES = 900000;
// Five retries; their sum (31 s) plus capped Retry-After waits keeps a push inside the 6-minute execution limit.
const HUB_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000];
const HUB_RETRY_AFTER_CAP_SECONDS = 60;
const HUB_LOCK_WAIT_MS = 30000;

const HUB_PROP_ENDPOINT = 'HUB_ENDPOINT';
const HUB_PROP_TENANT = 'HUB_TENANT';
const HUB_PROP_SECRET = 'HUB_SECRET';

/** Returns {endpoint, tenant, secret}, or null until Hub → Set up… has been completed. */
function getHubConfig_() {
  const props = PropertiesService.getScriptProperties();
  const endpoint = props.getProperty(HUB_PROP_ENDPOINT);
  const tenant = props.getProperty(HUB_PROP_TENANT);
  const secret = props.getProperty(HUB_PROP_SECRET);
  if (!endpoint || !tenant || !secret) return null;
  return { endpoint: endpoint, tenant: tenant, secret: secret };
}

function hubWebhookUrl_(config) {
  return String(config.endpoint).replace(/\/+$/, '') + '/webhooks/sheets/' + encodeURIComponent(config.tenant);
}

/** Menu: asks for endpoint, tenant slug and secret; stores all three only if every answer is valid. */
function setUp() {
  const ui = SpreadsheetApp.getUi();
  const props = PropertiesService.getScriptProperties();
  const current = props.getProperties();

  const endpoint = askSetting_(ui, 'Hub endpoint',
    'Base URL of the hub, e.g. https://hub.example.com', current[HUB_PROP_ENDPOINT], true);
  if (endpoint === null) return;
  const cleanEndpoint = endpoint.replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s\/?#]+(\/[^\s?#]*)?$/i.test(cleanEndpoint)) {
    ui.alert('Hub set up', 'The endpoint must be a URL starting with https:// (or http://) — nothing was saved.', ui.ButtonSet.OK);
    return;
  }

  const tenant = askSetting_(ui, 'Hub tenant',
    'Your tenant slug, as given by the hub (letters, digits, - and _)', current[HUB_PROP_TENANT], true);
  if (tenant === null) return;
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(tenant)) {
    ui.alert('Hub set up', 'The tenant slug may hold only letters, digits, - and _ — nothing was saved.', ui.ButtonSet.OK);
    return;
  }

  // The secret is never echoed back, so a second run of Set up can keep it by leaving the answer blank.
  const secret = askSetting_(ui, 'Hub sheets secret',
    'The sheets secret the hub issued for this tenant', current[HUB_PROP_SECRET], false);
  if (secret === null) return;
  if (!secret || /\s/.test(secret)) {
    ui.alert('Hub set up', 'The secret must be non-empty and contain no spaces — nothing was saved.', ui.ButtonSet.OK);
    return;
  }

  const values = {};
  values[HUB_PROP_ENDPOINT] = cleanEndpoint;
  values[HUB_PROP_TENANT] = tenant;
  values[HUB_PROP_SECRET] = secret;
  props.setProperties(values);
  ui.alert('Hub set up',
    'Saved. Rows will be pushed to ' + hubWebhookUrl_({ endpoint: cleanEndpoint, tenant: tenant }) +
    '. Use Hub → Install automatic push to push rows as you edit them.', ui.ButtonSet.OK);
}

/** Returns the trimmed answer (the current value when left blank), or null when the user cancels. */
function askSetting_(ui, title, message, currentValue, showCurrent) {
  let hint = '';
  if (currentValue) {
    hint = (showCurrent ? '\nCurrent: ' + currentValue + '.' : '\nA value is already stored.') + ' Leave blank to keep it.';
  }
  const response = ui.prompt(title, message + hint, ui.ButtonSet.OK_CANCEL);
  if (response.getSelectedButton() !== ui.Button.OK) return null;
  const text = String(response.getResponseText() || '').trim();
  return text || currentValue || '';
}
