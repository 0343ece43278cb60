// @rudderstack/rudder-sdk-node: posts gzip to /v1/batch, under a form content type.
'use strict';
const Analytics = require('@rudderstack/rudder-sdk-node');
const { plan, config } = require('./calls');

async function main() {
  const { url, writeKey, tag } = config();
  const errors = [];
  const client = new Analytics(writeKey, { dataPlaneUrl: url, flushAt: 20, flushInterval: 200, maxRetries: 2 });
  const calls = plan(tag);
  const done = (err) => { if (err) errors.push(String(err.message || err)); };
  for (const call of ['identify', 'track', 'page', 'screen', 'group', 'alias']) {
    client[call](calls[call], done);
  }
  await client.flush(done);
  console.log(JSON.stringify({ errors }));
  process.exit(errors.length ? 1 : 0);
}

main().catch((err) => { console.error(err); process.exit(1); });
