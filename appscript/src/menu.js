// The Hub menu and the small UI helpers that also work where no dialog can be shown (edit triggers).

/** Simple trigger: runs when the spreadsheet opens. */
function onOpen() {
  SpreadsheetApp.getUi()
    .createMenu('Hub')
    .addItem('Push selected rows', 'pushSelectedRows')
    .addItem('Push changed rows', 'pushChangedRows')
    .addSeparator()
    .addItem('Set up…', 'setUp')
    .addItem('Install automatic push', 'installTrigger')
    .addItem('Remove automatic push', 'removeTrigger')
    .addToUi();
}

/** A toast rather than an alert: getUi() throws inside triggers, a toast still reaches the open sheet. */
function notify_(ss, message) {
  Logger.log(message);
  try {
    ss.toast(message, 'Hub', 10);
  } catch (err) {
    Logger.log('toast failed: ' + err);
  }
}

/** Every range of the current selection; a Ctrl-click selection has several. */
function selectedRanges_(ss) {
  const list = ss.getActiveRangeList();
  if (list) return list.getRanges();
  const range = ss.getActiveRange();
  return range ? [range] : [];
}
