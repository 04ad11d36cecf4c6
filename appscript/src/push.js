// Pushes table rows to the hub in bounded, signed batches and records each row's outcome in hub_status.

/** Menu: pushes the non-empty data rows of the active range(s) on the active tab. */
function pushSelectedRows() {
  const ss = SpreadsheetApp.getActiveSpreadsheet();
  const sheet = ss.getActiveSheet();
  if (!isHubTable_(sheet.getName())) {
    notify_(ss, '"' + sheet.getName() + '" is not a hub table (' + HUB_TABLES.join(', ') + ').');
    return null;
  }
  const selected = {};
  selectedRanges_(ss).forEach(function (range) {
    if (range.getSheet().getName() !== sheet.getName()) return;
    // A whole-column selection spans every row of the grid; only rows up to the last used one matter.
    const last = Math.min(range.getRow() + range.getNumRows() - 1, sheet.getLastRow());
    for (let n = Math.max(range.getRow(), 2); n <= last; n++) selected[n] = true;
  });
  if (!Object.keys(selected).length) {
    notify_(ss, 'Select the rows to push (row 1 is the header).');
    return null;
  }
  return runPush_(ss, [{ sheet: sheet, include: function (n) { return selected[n] === true; } }]);
}

/**
 * A row is "changed", i.e. not yet accepted by the hub, when its hub_status is empty, "pending", or starts
 * with "error". "sending" counts too: pushes run under the document lock, so a "sending" seen by a push
 * that holds the lock was left by an execution that died mid-push. "sent (import …)" and the hub's own
 * "ok: …" are done.
 */
function isChangedStatus_(status) {
  const s = String(status).trim().toLowerCase();
  return s === '' || s === 'pending' || s === 'sending' || s.indexOf('error') === 0;
}

/** Menu: pushes every changed row (see isChangedStatus_) of every table tab. */
function pushChangedRows() {
  const ss = SpreadsheetApp.getActiveSpreadsheet();
  const jobs = ss.getSheets()
    .filter(function (sheet) { return isHubTable_(sheet.getName()); })
    .map(function (sheet) {
      return { sheet: sheet, include: function (n, status) { return isChangedStatus_(status); } };
    });
  if (!jobs.length) {
    notify_(ss, 'No hub table tabs here (' + HUB_TABLES.join(', ') + ').');
    return null;
  }
  return runPush_(ss, jobs);
}

/**
 * Runs jobs [{sheet, include(rowNumber, status)}] under the document lock. Without the lock nothing is
 * touched: rows an edit marked "pending" stay so and the next push picks them up.
 */
function runPush_(ss, jobs) {
  const config = getHubConfig_();
  if (!config) {
    notify_(ss, 'The hub is not set up yet: use Hub → Set up… first. Edited rows stay pending.');
    return null;
  }
  const lock = LockService.getDocumentLock();
  if (!lock.tryLock(HUB_LOCK_WAIT_MS)) {
    notify_(ss, 'Another push is still running; pending rows will go with the next push.');
    return null;
  }
  const summary = { sent: 0, pushes: 0, rejected: 0, pending: 0, oversized: 0, problem: '' };
  try {
    for (let i = 0; i < jobs.length && !summary.problem; i++) {
      pushSheet_(ss, config, jobs[i].sheet, jobs[i].include, summary);
    }
  } finally {
    lock.releaseLock();
  }
  notify_(ss, summaryText_(summary));
  return summary;
}

function pushSheet_(ss, config, sheet, include, summary) {
  const table = readTable_(sheet);
  if (!table) return;
  const statuses = readStatuses_(sheet, table);
  const wanted = [];
  for (let n = 2; n <= table.lastRow; n++) {
    if (include(n, statuses[n - 2])) wanted.push(n);
  }
  const rows = readDataRows_(sheet, table, wanted).filter(function (row) { return !isEmptyRow_(row.values); });
  // The sheet's locale and time zone go with every push: the hub reads its text as this sheet shows it.
  const source = { spreadsheetId: ss.getId(), locale: ss.getSpreadsheetLocale(), timeZone: ss.getSpreadsheetTimeZone() };
  const plan = planBatches_(source, sheet.getName(), table.header, rows);
  if (plan.oversized.length) {
    writeStatus_(sheet, table.statusColumn, plan.oversized, 'error: row larger than ' + HUB_MAX_BODY_BYTES + ' bytes');
    summary.oversized += plan.oversized.length;
  }
  for (let b = 0; b < plan.batches.length; b++) {
    const rowNumbers = plan.batches[b].rowNumbers;
    writeStatus_(sheet, table.statusColumn, rowNumbers, 'sending');
    const result = sendBatch_(config, plan.batches[b].body);
    if (result.retryLater) {
      // The hub is unreachable or overloaded: later batches would only wait out the same backoff.
      const left = [];
      plan.batches.slice(b).forEach(function (batch) { Array.prototype.push.apply(left, batch.rowNumbers); });
      writeStatus_(sheet, table.statusColumn, left, 'pending');
      summary.pending += left.length;
      summary.problem = result.problem;
      Logger.log('Hub push of ' + sheet.getName() + ' gave up: ' + result.problem);
      return;
    }
    writeStatusIfSending_(sheet, table.statusColumn, rowNumbers, result.status);
    if (result.ok) {
      summary.pushes += 1;
      summary.sent += rowNumbers.length;
    } else {
      summary.rejected += rowNumbers.length;
    }
  }
}

/**
 * Splits rows into pushes of at most HUB_MAX_ROWS_PER_PUSH rows and HUB_MAX_BODY_BYTES bytes, each with its
 * own push_id. The body is assembled from per-row JSON so its exact size is known while filling a batch.
 * A row that alone exceeds the byte limit cannot be sent at all and is reported in `oversized`.
 */
function planBatches_(source, sheetName, header, rows) {
  const envelope = function (pushId) {
    const head = hubJson_({ push_id: pushId, spreadsheet_id: source.spreadsheetId, sheet: sheetName,
      locale: source.locale, time_zone: source.timeZone, header: header, rows: [] });
    return head.slice(0, -2); // drop "]}" so rows can be appended
  };
  // Apps Script UUIDs are always 36 characters, so any push_id gives an envelope of this size.
  const envelopeBytes = envelope('00000000-0000-0000-0000-000000000000').length + 2;
  const batches = [];
  const oversized = [];
  let current = null;
  rows.forEach(function (row) {
    const json = hubJson_({ row_number: row.rowNumber, values: row.values, typed: row.typed });
    if (envelopeBytes + json.length > HUB_MAX_BODY_BYTES) {
      oversized.push(row.rowNumber);
      return;
    }
    if (!current || current.rowNumbers.length >= HUB_MAX_ROWS_PER_PUSH ||
        current.bytes + 1 + json.length > HUB_MAX_BODY_BYTES) {
      current = { pushId: Utilities.getUuid(), rowJson: [], rowNumbers: [], bytes: envelopeBytes };
      batches.push(current);
    }
    current.bytes += (current.rowJson.length ? 1 : 0) + json.length;
    current.rowJson.push(json);
    current.rowNumbers.push(row.rowNumber);
  });
  return {
    batches: batches.map(function (batch) {
      return { pushId: batch.pushId, rowNumbers: batch.rowNumbers, body: envelope(batch.pushId) + batch.rowJson.join(',') + ']}' };
    }),
    oversized: oversized,
  };
}

/**
 * Posts one body, retrying 429/5xx and network errors after 1, 2, 4, 8, 16 s (or the response's Retry-After,
 * capped). Every attempt gets a fresh timestamp and signature so a retry is not refused as stale.
 * Returns {ok, status} when the hub answered, or {retryLater, problem} when it never did.
 */
function sendBatch_(config, body) {
  const url = hubWebhookUrl_(config);
  for (let attempt = 0; ; attempt++) {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const options = {
      method: 'post',
      contentType: 'application/json',
      payload: body,
      headers: {
        'X-Hub-Timestamp': timestamp,
        'X-Hub-Signature-256': hubSignature_(config.secret, timestamp, body),
      },
      muteHttpExceptions: true,
    };
    let response = null;
    let problem;
    try {
      response = UrlFetchApp.fetch(url, options);
    } catch (err) {
      problem = 'network error: ' + (err && err.message ? err.message : String(err));
    }
    if (response) {
      const code = response.getResponseCode();
      if (code >= 200 && code < 300) return { ok: true, status: sentStatus_(response) };
      if (code !== 429 && code < 500) return { ok: false, status: errorStatus_(code, response) };
      problem = 'HTTP ' + code;
    }
    if (attempt >= HUB_RETRY_DELAYS_MS.length) return { retryLater: true, problem: problem };
    Utilities.sleep(retryDelayMs_(response, attempt));
  }
}

function sentStatus_(response) {
  const json = parseJson_(response.getContentText());
  return json && json.import_id ? 'sent (import ' + json.import_id + ')' : 'sent';
}

/** "error: <code> <reason>", the reason being the hub's "error" field or else the raw response text. */
function errorStatus_(code, response) {
  const text = String(response.getContentText() || '');
  const json = parseJson_(text);
  let reason = text;
  if (json && json.error !== undefined && json.error !== null) {
    reason = typeof json.error === 'string' ? json.error : JSON.stringify(json.error);
  }
  reason = reason.replace(/\s+/g, ' ').trim();
  if (reason.length > 500) reason = reason.slice(0, 497) + '...';
  return ('error: ' + code + ' ' + reason).trim();
}

function retryDelayMs_(response, attempt) {
  const seconds = response ? retryAfterSeconds_(response) : null;
  if (seconds !== null) return Math.min(seconds, HUB_RETRY_AFTER_CAP_SECONDS) * 1000;
  return HUB_RETRY_DELAYS_MS[attempt];
}

/** Retry-After in whole seconds, or null when absent or given as an HTTP date. */
function retryAfterSeconds_(response) {
  const headers = (typeof response.getAllHeaders === 'function' ? response.getAllHeaders() : response.getHeaders()) || {};
  for (const name in headers) {
    if (String(name).toLowerCase() !== 'retry-after') continue;
    const raw = Array.isArray(headers[name]) ? headers[name][0] : headers[name];
    const text = String(raw).trim();
    return /^\d+$/.test(text) ? parseInt(text, 10) : null;
  }
  return null;
}

function parseJson_(text) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' ? value : null;
  } catch (err) {
    return null;
  }
}

function summaryText_(summary) {
  const parts = [];
  if (summary.sent) parts.push(summary.sent + ' row(s) sent in ' + summary.pushes + ' push(es)');
  if (summary.rejected) parts.push(summary.rejected + ' row(s) rejected by the hub (see hub_status)');
  if (summary.oversized) parts.push(summary.oversized + ' row(s) too large to send');
  if (summary.pending) {
    parts.push('hub unreachable (' + summary.problem + '): ' + summary.pending +
      ' row(s) left pending, use Hub → Push changed rows later');
  }
  return parts.length ? parts.join('; ') + '.' : 'Nothing to push.';
}
