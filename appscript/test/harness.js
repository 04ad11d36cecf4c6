'use strict';
// Fakes the Apps Script globals the hub script uses and loads every src/*.js into one vm context, as Apps Script does.

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const crypto = require('node:crypto');

const SRC_DIR = path.join(__dirname, '..', 'src');
const DEFAULT_NOW = Date.UTC(2025, 0, 6, 8, 0, 0); // 2025-01-06T08:00:00Z

/** Values crossing the vm boundary carry the other realm's prototypes; compare them as plain JSON. */
function plain(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** A cell is {v: typed value, d: displayed text}; a test may give either a bare value or {v, d}. */
function toCell(x) {
  if (x && typeof x === 'object' && !(x instanceof Date) && 'd' in x) {
    return { v: 'v' in x ? x.v : x.d, d: String(x.d) };
  }
  return { v: x === undefined || x === null ? '' : x, d: x === undefined || x === null ? '' : String(x) };
}

const EMPTY = Object.freeze({ v: '', d: '' });

function columnLetter(n) {
  let s = '';
  while (n > 0) {
    const m = (n - 1) % 26;
    s = String.fromCharCode(65 + m) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

function parseA1(a1) {
  const m = /^([A-Z]+)?(\d+)?(?::([A-Z]+)?(\d+)?)?$/.exec(a1);
  if (!m) throw new Error('bad A1 notation ' + a1);
  const col = (letters) => letters.split('').reduce((n, ch) => n * 26 + ch.charCodeAt(0) - 64, 0);
  const c1 = m[1] ? col(m[1]) : 1;
  const r1 = m[2] ? Number(m[2]) : 1;
  const c2 = m[3] ? col(m[3]) : (m[3] === undefined && a1.includes(':') ? 26 : c1);
  const r2 = m[4] ? Number(m[4]) : (a1.includes(':') && !m[4] ? 1000 : r1);
  return { row: r1, col: c1, numRows: r2 - r1 + 1, numCols: c2 - c1 + 1 };
}

class FakeRange {
  constructor(sheet, row, col, numRows, numCols) {
    Object.assign(this, { _sheet: sheet, _row: row, _col: col, _numRows: numRows, _numCols: numCols });
  }
  getSheet() { return this._sheet; }
  getRow() { return this._row; }
  getColumn() { return this._col; }
  getNumRows() { return this._numRows; }
  getNumColumns() { return this._numCols; }
  getLastRow() { return this._row + this._numRows - 1; }
  getLastColumn() { return this._col + this._numCols - 1; }
  getA1Notation() {
    return columnLetter(this._col) + this._row + ':' + columnLetter(this.getLastColumn()) + this.getLastRow();
  }
  _grid(pick) {
    this._sheet._env.calls.push({ op: 'read', sheet: this._sheet._name, a1: this.getA1Notation() });
    const out = [];
    for (let r = 0; r < this._numRows; r++) {
      const line = [];
      for (let c = 0; c < this._numCols; c++) line.push(pick(this._sheet._cell(this._row + r, this._col + c)));
      out.push(line);
    }
    return out;
  }
  getValues() { return this._grid((cell) => cell.v); }
  getDisplayValues() { return this._grid((cell) => cell.d); }
  getValue() { return this.getValues()[0][0]; }
  getDisplayValue() { return this.getDisplayValues()[0][0]; }
  setValue(value) {
    const grid = [];
    for (let r = 0; r < this._numRows; r++) grid.push(new Array(this._numCols).fill(value));
    return this._write(grid, 'setValue');
  }
  setValues(values) {
    // Apps Script refuses a grid whose shape differs from the range; so does the fake.
    if (!Array.isArray(values) || values.length !== this._numRows) {
      throw new Error(`The number of rows in the data does not match the number of rows in the range. The data has ${values && values.length} but the range has ${this._numRows}.`);
    }
    values.forEach((line) => {
      if (!Array.isArray(line) || line.length !== this._numCols) {
        throw new Error(`The number of columns in the data does not match the number of columns in the range. The data has ${line && line.length} but the range has ${this._numCols}.`);
      }
    });
    return this._write(values, 'setValues');
  }
  _write(grid, op) {
    this._sheet._env.calls.push({ op, sheet: this._sheet._name, a1: this.getA1Notation(), cells: this._numRows * this._numCols });
    grid.forEach((line, r) => line.forEach((value, c) => this._sheet._set(this._row + r, this._col + c, toCell(value))));
    return this;
  }
}

class FakeSheet {
  constructor(env, name, rows) {
    this._env = env;
    this._name = name;
    this._cells = (rows || []).map((line) => line.map(toCell));
    this._selection = null;
  }
  getName() { return this._name; }
  getParent() { return this._env.spreadsheet; }
  _cell(row, col) {
    const line = this._cells[row - 1];
    return (line && line[col - 1]) || EMPTY;
  }
  _set(row, col, cell) {
    while (this._cells.length < row) this._cells.push([]);
    const line = this._cells[row - 1];
    while (line.length < col) line.push(EMPTY);
    line[col - 1] = cell;
  }
  getLastRow() {
    for (let r = this._cells.length; r >= 1; r--) {
      if (this._cells[r - 1].some((cell) => cell.d !== '')) return r;
    }
    return 0;
  }
  getLastColumn() {
    let last = 0;
    this._cells.forEach((line) => line.forEach((cell, i) => { if (cell.d !== '') last = Math.max(last, i + 1); }));
    return last;
  }
  getMaxRows() { return Math.max(1000, this._cells.length); }
  getMaxColumns() { return Math.max(26, ...this._cells.map((line) => line.length)); }
  getRange(row, col, numRows, numCols) {
    if (typeof row === 'string') {
      const r = parseA1(row);
      return new FakeRange(this, r.row, r.col, r.numRows, r.numCols);
    }
    const args = [row, col, numRows === undefined ? 1 : numRows, numCols === undefined ? 1 : numCols];
    args.forEach((n, i) => {
      if (!Number.isInteger(n) || n < 1) {
        throw new Error(`getRange argument ${i + 1} must be an integer >= 1, got ${n}`);
      }
    });
    return new FakeRange(this, args[0], args[1], args[2], args[3]);
  }
  getActiveRangeList() {
    return this._selection ? { getRanges: () => this._selection.slice() } : null;
  }
  getActiveRange() { return this._selection ? this._selection[0] : null; }

  // ---- test helpers (not Apps Script API) ----
  /** Selects ranges given as A1 strings ("A2:C3", "4:5") and makes this the active tab. */
  select(...a1s) {
    this._selection = a1s.map((a1) => this.getRange(a1));
    this._env.spreadsheet._active = this;
    return this;
  }
  display(row, col) { return this._cell(row, col).d; }
  /** Display values of a header-named column for rows 2..last. */
  column(name) {
    const header = this.rowValues(1);
    const idx = header.indexOf(name);
    if (idx === -1) throw new Error(`no column ${name} in ${this._name}`);
    const out = [];
    for (let r = 2; r <= this.getLastRow(); r++) out.push(this._cell(r, idx + 1).d);
    return out;
  }
  rowValues(row) {
    const width = this.getLastColumn();
    const out = [];
    for (let c = 1; c <= width; c++) out.push(this._cell(row, c).d);
    return out;
  }
  dump() { return this._cells.map((line) => line.map((cell) => cell.d)); }
}

class FakeSpreadsheet {
  constructor(env, id, sheets) {
    this._env = env;
    this._id = id;
    this._sheets = Object.entries(sheets).map(([name, rows]) => new FakeSheet(env, name, rows));
    this._active = this._sheets[0] || null;
  }
  getId() { return this._id; }
  getName() { return 'Hub test spreadsheet'; }
  getSpreadsheetLocale() { return this._env.locale || 'en_US'; }
  getSpreadsheetTimeZone() { return this._env.timeZone || 'America/New_York'; }
  getSheets() { return this._sheets.slice(); }
  getSheetByName(name) { return this._sheets.find((s) => s.getName() === name) || null; }
  getActiveSheet() { return this._active; }
  setActiveSheet(sheet) { this._active = sheet; return sheet; }
  getActiveRangeList() { return this._active ? this._active.getActiveRangeList() : null; }
  getActiveRange() { return this._active ? this._active.getActiveRange() : null; }
  toast(message, title, timeout) { this._env.toasts.push({ message: String(message), title, timeout }); }
}

function makeResponse(entry) {
  const body = typeof entry.body === 'string' ? entry.body : entry.body === undefined ? '' : JSON.stringify(entry.body);
  const headers = Object.assign({}, entry.headers || {});
  return {
    getResponseCode: () => entry.code,
    getContentText: () => body,
    getHeaders: () => Object.assign({}, headers),
    getAllHeaders: () => Object.assign({}, headers),
  };
}

/**
 * createHarness({sheets: {name: rows}, active, spreadsheetId, properties, now, uuids, lockAvailable, uiAvailable})
 * returns the vm context plus everything the fakes recorded.
 */
function createHarness(options = {}) {
  const env = {
    requests: [],
    responses: [],
    sleeps: [],
    toasts: [],
    logs: [],
    calls: [],
    menus: [],
    prompts: [],
    promptAnswers: [],
    alerts: [],
    triggers: [],
    lockAttempts: [],
    lockReleases: 0,
    lockHeld: false,
    lockAvailable: options.lockAvailable !== false,
    uiAvailable: options.uiAvailable !== false,
    clock: { now: options.now === undefined ? DEFAULT_NOW : options.now },
    uuids: (options.uuids || []).slice(),
    uuidCount: 0,
    locale: options.locale,
    timeZone: options.timeZone,
    importCount: 0,
    failHmac: null,
    properties: Object.assign({}, options.properties || {}),
  };
  env.spreadsheet = new FakeSpreadsheet(env, options.spreadsheetId || 'sheet-id-123', options.sheets || {});
  if (options.active) env.spreadsheet._active = env.spreadsheet.getSheetByName(options.active);

  const Button = { OK: 'OK', CANCEL: 'CANCEL', YES: 'YES', NO: 'NO', CLOSE: 'CLOSE' };
  const ButtonSet = { OK: 'OK', OK_CANCEL: 'OK_CANCEL', YES_NO: 'YES_NO', YES_NO_CANCEL: 'YES_NO_CANCEL' };
  const ui = {
    Button,
    ButtonSet,
    createMenu(name) {
      const menu = { name, items: [] };
      const builder = {
        addItem(caption, functionName) { menu.items.push({ caption, functionName }); return builder; },
        addSeparator() { menu.items.push({ separator: true }); return builder; },
        addToUi() { env.menus.push(menu); },
      };
      return builder;
    },
    prompt(...args) {
      // prompt(prompt) | prompt(prompt, buttons) | prompt(title, prompt, buttons)
      const [title, message, buttons] = args.length === 3 ? args : [null, args[0], args[1]];
      env.prompts.push({ title, message, buttons });
      const answer = env.promptAnswers.shift();
      if (!answer) throw new Error('unexpected prompt: ' + (title || message));
      return { getSelectedButton: () => answer.button || Button.OK, getResponseText: () => answer.text || '' };
    },
    alert(...args) { env.alerts.push(args.map(String)); return Button.OK; },
  };

  const SpreadsheetApp = {
    getActiveSpreadsheet: () => env.spreadsheet,
    getActive: () => env.spreadsheet,
    getUi() {
      if (!env.uiAvailable) throw new Error('Cannot call SpreadsheetApp.getUi() from this context.');
      return ui;
    },
  };

  const UrlFetchApp = {
    fetch(url, params) {
      const request = { url: String(url), params: plain(params) };
      env.requests.push(request);
      let entry = env.responses.shift();
      if (typeof entry === 'function') entry = entry(request);
      if (!entry) {
        env.importCount += 1;
        entry = { code: 202, body: { import_id: 'imp-' + env.importCount, status_url: '/api/imports/imp-' + env.importCount } };
      }
      if (entry.throws) throw new Error(entry.throws);
      return makeResponse(entry);
    },
  };

  const Utilities = {
    Charset: { UTF_8: 'UTF_8', US_ASCII: 'US_ASCII' },
    formatDate(date, timeZone, pattern) {
      if (pattern !== 'yyyy-MM-dd') throw new Error('harness only fakes yyyy-MM-dd');
      // The calendar day of `date` in `timeZone`, as Apps Script's formatDate gives it.
      return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
    },
    computeHmacSha256Signature(value, key, charset) {
      if (env.failHmac) throw new Error(env.failHmac);
      if (charset !== undefined && charset !== 'UTF_8') throw new Error('harness only fakes UTF_8');
      const toBuf = (x) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : Buffer.from(x.map((b) => b & 0xff)));
      const digest = crypto.createHmac('sha256', toBuf(key)).update(toBuf(value)).digest();
      // Apps Script returns Java bytes: signed, -128..127.
      return Array.from(new Int8Array(digest.buffer, digest.byteOffset, digest.length));
    },
    getUuid() {
      if (env.uuids.length) return env.uuids.shift();
      env.uuidCount += 1;
      return '00000000-0000-4000-8000-' + String(env.uuidCount).padStart(12, '0');
    },
    sleep(ms) {
      env.sleeps.push(ms);
      env.clock.now += ms;
    },
  };

  const scriptProperties = {
    getProperty: (key) => (Object.prototype.hasOwnProperty.call(env.properties, key) ? env.properties[key] : null),
    setProperty(key, value) { env.properties[key] = String(value); return scriptProperties; },
    setProperties(values, deleteAllOthers) {
      if (deleteAllOthers) env.properties = {};
      Object.keys(values).forEach((k) => { env.properties[k] = String(values[k]); });
      return scriptProperties;
    },
    getProperties: () => Object.assign({}, env.properties),
    getKeys: () => Object.keys(env.properties),
    deleteProperty(key) { delete env.properties[key]; return scriptProperties; },
  };
  const PropertiesService = { getScriptProperties: () => scriptProperties };

  const documentLock = {
    tryLock(timeoutMs) {
      env.lockAttempts.push(timeoutMs);
      if (!env.lockAvailable) return false;
      env.lockHeld = true;
      return true;
    },
    hasLock: () => env.lockHeld,
    releaseLock() {
      env.lockReleases += 1;
      env.lockHeld = false;
    },
  };
  const LockService = { getDocumentLock: () => documentLock };

  let triggerSeq = 0;
  const ScriptApp = {
    EventType: { ON_EDIT: 'ON_EDIT', ON_OPEN: 'ON_OPEN', ON_CHANGE: 'ON_CHANGE', CLOCK: 'CLOCK' },
    TriggerSource: { SPREADSHEETS: 'SPREADSHEETS', CLOCK: 'CLOCK' },
    newTrigger(functionName) {
      return {
        forSpreadsheet(target) {
          const sourceId = typeof target === 'string' ? target : target.getId();
          const make = (eventType) => ({
            create() {
              triggerSeq += 1;
              const id = 'trigger-' + triggerSeq;
              const trigger = {
                getHandlerFunction: () => functionName,
                getEventType: () => eventType,
                getTriggerSource: () => 'SPREADSHEETS',
                getTriggerSourceId: () => sourceId,
                getUniqueId: () => id,
              };
              env.triggers.push(trigger);
              return trigger;
            },
          });
          return { onEdit: () => make('ON_EDIT'), onOpen: () => make('ON_OPEN'), onChange: () => make('ON_CHANGE') };
        },
      };
    },
    getProjectTriggers: () => env.triggers.slice(),
    deleteTrigger(trigger) {
      const i = env.triggers.findIndex((t) => t.getUniqueId() === trigger.getUniqueId());
      if (i === -1) throw new Error('no such trigger');
      env.triggers.splice(i, 1);
    },
  };

  const Logger = { log: (...args) => { env.logs.push(args.map(String).join(' ')); } };

  const context = vm.createContext({ SpreadsheetApp, UrlFetchApp, Utilities, PropertiesService, LockService, ScriptApp, Logger });
  vm.runInContext('Date', context).now = () => env.clock.now;
  for (const file of fs.readdirSync(SRC_DIR).filter((f) => f.endsWith('.js')).sort()) {
    vm.runInContext(fs.readFileSync(path.join(SRC_DIR, file), 'utf8'), context, { filename: path.join('src', file) });
  }

  const harness = {
    env,
    context,
    ss: env.spreadsheet,
    sheet: (name) => env.spreadsheet.getSheetByName(name),
    /** Runs a script function by name, as the menu or a trigger would. */
    call(name, ...args) {
      const fn = context[name];
      if (typeof fn !== 'function') throw new Error(`no function ${name} in the script`);
      return plain(fn(...args));
    },
    /** Evaluates an expression in the script's scope (e.g. a const from src). */
    evaluate(expression) { return vm.runInContext(expression, context); },
    respond(...entries) { env.responses.push(...entries); },
    configure(endpoint = 'https://hub.example.com', tenant = 'acme', secret = 'test-secret') {
      Object.assign(env.properties, { HUB_ENDPOINT: endpoint, HUB_TENANT: tenant, HUB_SECRET: secret });
    },
    /** Sets cells as a user would, then returns the event object an installable onEdit trigger receives. */
    edit(sheetName, a1, values) {
      const sheet = harness.sheet(sheetName);
      const range = sheet.getRange(a1);
      if (values !== undefined) {
        const grid = Array.isArray(values) ? values : [[values]];
        grid.forEach((line, r) => line.forEach((v, c) => sheet._set(range.getRow() + r, range.getColumn() + c, toCell(v))));
      }
      return { source: env.spreadsheet, range, value: Array.isArray(values) ? undefined : values, authMode: 'FULL' };
    },
    bodies: () => env.requests.map((r) => JSON.parse(r.params.payload)),
    statusWrites: (sheetName) => env.calls.filter((c) => c.op !== 'read' && c.sheet === sheetName),
  };
  return harness;
}

module.exports = { createHarness, plain, DEFAULT_NOW };
