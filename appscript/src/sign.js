// Request encoding and HMAC signing that the hub's webhook verifies byte for byte.

/**
 * JSON with every non-ASCII character written as a \uXXXX escape. The body is then plain ASCII, so the
 * bytes UrlFetchApp sends, the bytes we sign and the byte count we budget are the same whatever charset
 * either side assumes; any JSON parser reads back the original text.
 */
function hubJson_(value) {
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, function (ch) {
    return '\\u' + ('0000' + ch.charCodeAt(0).toString(16)).slice(-4);
  });
}

/** The X-Hub-Signature-256 header value for one attempt: HMAC-SHA256 over "<timestamp>.<body>". */
function hubSignature_(secret, timestamp, body) {
  const bytes = Utilities.computeHmacSha256Signature(timestamp + '.' + body, secret, Utilities.Charset.UTF_8);
  return 'sha256=' + bytesToHex_(bytes);
}

/** Apps Script hands back signed bytes (-128..127); masking keeps 0x80..0xff from turning into "-80". */
function bytesToHex_(bytes) {
  let hex = '';
  for (let i = 0; i < bytes.length; i++) {
    hex += ((bytes[i] & 0xff) + 0x100).toString(16).slice(1);
  }
  return hex;
}
