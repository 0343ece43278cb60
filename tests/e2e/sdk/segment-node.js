// @segment/analytics-node (server): batches to /v1/batch with HTTP Basic auth.
'use strict';
const { Analytics } = require('@segment/analytics-node');
const { plan, config } = require('./calls');

async function main() {
  const { url, writeKey, tag } = config();
  const errors = [];
  const analytics = new Analytics({ writeKey, host: url, maxEventsInBatch: 20, flushInterval: 200 });
  analytics.on('error', (err) => errors.push(String(err && (err.reason || err.message || err.code))));
  const calls = plan(tag);
  for (const call of ['identify', 'track', 'page', 'screen', 'group', 'alias']) {
    analytics[call](calls[call]);
  }
  await analytics.closeAndFlush({ timeout: 20000 });
  console.log(JSON.stringify({ errors }));
  process.exit(errors.length ? 1 : 0);
}

main().catch((err) => { console.error(err); process.exit(1); });
