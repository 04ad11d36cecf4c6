// The installable on-edit trigger: marks edited rows pending and pushes them while the user keeps typing.

const HUB_EDIT_HANDLER = 'onEditInstalled';

/** Menu: installs the on-edit trigger once; calling it again does not add a second one. */
function installTrigger() {
  const ss = SpreadsheetApp.getActiveSpreadsheet();
  if (ScriptApp.getProjectTriggers().some(isHubEditTrigger_)) {
    notify_(ss, 'Automatic push is already installed.');
    return false;
  }
  ScriptApp.newTrigger(HUB_EDIT_HANDLER).forSpreadsheet(ss).onEdit().create();
  notify_(ss, 'Automatic push installed: edited rows are pushed to the hub.');
  return true;
}

/** Menu: deletes this project's on-edit trigger(s) for the current user. */
function removeTrigger() {
  const ss = SpreadsheetApp.getActiveSpreadsheet();
  const ours = ScriptApp.getProjectTriggers().filter(isHubEditTrigger_);
  ours.forEach(function (trigger) { ScriptApp.deleteTrigger(trigger); });
  notify_(ss, ours.length ? 'Automatic push removed.' : 'Automatic push was not installed.');
  return ours.length;
}

function isHubEditTrigger_(trigger) {
  return trigger.getHandlerFunction() === HUB_EDIT_HANDLER;
}

/**
 * Installable trigger (a simple onEdit could not call UrlFetchApp). Edits to the header, to hub_status /
 * hub_synced_at or to unnamed columns change no data and are ignored. Rows are marked "pending" before
 * waiting for the lock, so an edit made while another push runs is never lost; the edited rows are pushed
 * even if a concurrent push already marked them, so the newest values always reach the hub.
 */
function onEditInstalled(e) {
  if (!e || !e.range) return null;
  const sheet = e.range.getSheet();
  if (!isHubTable_(sheet.getName())) return null;
  const firstRow = Math.max(e.range.getRow(), 2);
  const lastRow = Math.min(e.range.getRow() + e.range.getNumRows() - 1, sheet.getLastRow());
  if (lastRow < firstRow) return null;

  const table = readTable_(sheet);
  if (!table) return null;
  const firstIndex = e.range.getColumn() - 1;
  const lastIndex = firstIndex + e.range.getNumColumns() - 1;
  const touchesData = table.dataIndexes.some(function (i) { return i >= firstIndex && i <= lastIndex; });
  if (!touchesData) return null;

  const edited = [];
  for (let n = firstRow; n <= lastRow; n++) edited.push(n);
  const nonEmpty = readDataRows_(sheet, table, edited)
    .filter(function (row) { return !isEmptyRow_(row.values); })
    .map(function (row) { return row.rowNumber; });
  if (!nonEmpty.length) return null;
  writeStatus_(sheet, table.statusColumn, nonEmpty, 'pending');

  const editedSet = {};
  nonEmpty.forEach(function (n) { editedSet[n] = true; });
  const ss = e.source || SpreadsheetApp.getActiveSpreadsheet();
  return runPush_(ss, [{
    sheet: sheet,
    include: function (n, status) { return editedSet[n] === true || String(status).trim().toLowerCase() === 'pending'; },
  }]);
}
