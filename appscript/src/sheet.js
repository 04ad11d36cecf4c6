// Reading a table tab and writing its hub_status column with as few Sheets calls as the row layout allows.

function isHubTable_(name) {
  return HUB_TABLES.indexOf(String(name)) !== -1;
}

function isHubColumnName_(name) {
  const key = String(name).trim().toLowerCase();
  return key === HUB_STATUS_COLUMN || key === HUB_SYNCED_COLUMN;
}

/**
 * Describes a table tab: header (data columns only), their 0-based indexes, the 1-based hub_status column
 * and the width to read. Adds hub_status after the last used column if it is missing (never over data).
 * Columns with a blank header are left out: the hub could not name them. Returns null for a tab with no header.
 */
function readTable_(sheet) {
  const lastColumn = sheet.getLastColumn();
  if (lastColumn < 1) return null;
  const cells = sheet.getRange(1, 1, 1, lastColumn).getDisplayValues()[0].map(function (c) { return String(c).trim(); });
  let statusIndex = -1;
  let syncedIndex = -1;
  const dataIndexes = [];
  cells.forEach(function (name, i) {
    const key = name.toLowerCase();
    if (key === HUB_STATUS_COLUMN) {
      if (statusIndex === -1) statusIndex = i;
    } else if (key === HUB_SYNCED_COLUMN) {
      if (syncedIndex === -1) syncedIndex = i;
    } else if (name !== '') {
      dataIndexes.push(i);
    }
  });
  if (!dataIndexes.length) return null;
  let width = lastColumn;
  if (statusIndex === -1) {
    sheet.getRange(1, lastColumn + 1).setValue(HUB_STATUS_COLUMN);
    statusIndex = lastColumn;
    width = lastColumn + 1;
  }
  return {
    header: dataIndexes.map(function (i) { return cells[i]; }),
    dataIndexes: dataIndexes,
    statusColumn: statusIndex + 1,
    syncedColumn: syncedIndex + 1,
    width: width,
    lastRow: sheet.getLastRow(),
  };
}

/** hub_status of rows 2..lastRow, as displayed; index 0 is row 2. */
function readStatuses_(sheet, table) {
  if (table.lastRow < 2) return [];
  return sheet.getRange(2, table.statusColumn, table.lastRow - 1, 1).getDisplayValues()
    .map(function (r) { return String(r[0]).trim(); });
}

/**
 * Display values of the given rows' data columns, read one contiguous block at a time. Display values are
 * what the user sees, so a date does not shift by time zone and `007` stays `007`.
 */
function readDataRows_(sheet, table, rowNumbers) {
  const rows = [];
  const timeZone = sheet.getParent().getSpreadsheetTimeZone();
  contiguousRuns_(rowNumbers).forEach(function (run) {
    const range = sheet.getRange(run.start, 1, run.length, table.width);
    const block = range.getDisplayValues();
    const stored = range.getValues();
    block.forEach(function (cells, offset) {
      rows.push({
        rowNumber: run.start + offset,
        values: table.dataIndexes.map(function (i) { return String(cells[i] === undefined ? '' : cells[i]); }),
        typed: table.dataIndexes.map(function (i) { return typedValue_(stored[offset][i], timeZone); }),
      });
    });
  });
  return rows;
}

/**
 * A cell's value as the hub takes it beside the displayed text: numbers as numbers, dates as the day the
 * sheet shows (yyyy-MM-dd in the spreadsheet's time zone), anything else null (the text is read instead).
 * So `85%` arrives as 0.85 and `2.000,00 €` as 2000 whatever the sheet's locale.
 */
function typedValue_(value, timeZone) {
  if (typeof value === 'number' && isFinite(value)) return value;
  if (Object.prototype.toString.call(value) === '[object Date]' && !isNaN(value.getTime())) return Utilities.formatDate(value, timeZone, 'yyyy-MM-dd');
  return null;
}

function isEmptyRow_(values) {
  return values.every(function (v) { return String(v).trim() === ''; });
}

/** Writes status (a string, or a function of the row number) with one setValues per contiguous block. */
function writeStatus_(sheet, statusColumn, rowNumbers, status) {
  contiguousRuns_(rowNumbers).forEach(function (run) {
    const values = [];
    for (let i = 0; i < run.length; i++) {
      values.push([typeof status === 'function' ? status(run.start + i) : status]);
    }
    sheet.getRange(run.start, statusColumn, run.length, 1).setValues(values);
  });
}

/**
 * Final status of a batch: only cells still reading "sending" are overwritten, so a row the user edited
 * during the push (and an edit trigger marked "pending") stays pending and goes with the next push.
 */
function writeStatusIfSending_(sheet, statusColumn, rowNumbers, status) {
  if (!rowNumbers.length) return;
  const first = Math.min.apply(null, rowNumbers);
  const last = Math.max.apply(null, rowNumbers);
  const current = sheet.getRange(first, statusColumn, last - first + 1, 1).getDisplayValues();
  const still = rowNumbers.filter(function (n) { return String(current[n - first][0]).trim() === 'sending'; });
  writeStatus_(sheet, statusColumn, still, status);
}

/** Sorted, de-duplicated row numbers grouped as [{start, length}] blocks of consecutive rows. */
function contiguousRuns_(rowNumbers) {
  const sorted = rowNumbers.slice().sort(function (a, b) { return a - b; });
  const runs = [];
  sorted.forEach(function (n) {
    const run = runs[runs.length - 1];
    if (run && n === run.start + run.length - 1) return;
    if (run && n === run.start + run.length) {
      run.length += 1;
    } else {
      runs.push({ start: n, length: 1 });
    }
  });
  return runs;
}
