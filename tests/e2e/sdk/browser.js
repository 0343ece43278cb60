// @segment/analytics-next (analytics.js) in a jsdom page: text/plain bodies, writeKey in the
// body, the short paths /v1/t /v1/i /v1/p /v1/s /v1/g /v1/a. Settings are given inline so that
// nothing is fetched from a CDN.
'use strict';
const { JSDOM } = require('jsdom');
const { plan, config } = require('./calls');

const requests = [];

function browserGlobals(dom) {
  const { window } = dom;
  for (const name of ['window', 'document', 'navigator', 'location', 'localStorage', 'sessionStorage', 'screen', 'HTMLElement', 'Element', 'Node', 'Event', 'CustomEvent', 'MutationObserver']) {
    Object.defineProperty(globalThis, name, { value: window[name], configurable: true, writable: true });
  }
  // jsdom has no fetch: the page uses Node's, as a browser would use its own.
  // Requests are recorded so the test can check paths and content types the browser used.
  const nodeFetch = globalThis.fetch.bind(globalThis);
  window.fetch = globalThis.fetch = (url, init = {}) => {
    const headers = new Headers(init.headers || {});
    requests.push({ path: new URL(String(url)).pathname, contentType: headers.get('content-type') });
    return nodeFetch(url, init);
  };
}

async function main() {
  const { url, writeKey, tag } = config();
  const dom = new JSDOM('<!doctype html><html><head><title>Pricing</title></head><body></body></html>', {
    url: 'https://app.example.com/pricing?utm_campaign=spring_savings&utm_source=google',
    referrer: 'https://www.google.com/',
  });
  browserGlobals(dom);
  const { AnalyticsBrowser } = require('@segment/analytics-next');
  const endpoint = new URL(url);
  const [analytics] = await AnalyticsBrowser.load(
    {
      writeKey,
      cdnSettings: {
        integrations: {
          'Segment.io': { apiKey: writeKey, apiHost: `${endpoint.host}/v1`, protocol: endpoint.protocol.replace(':', '') },
        },
      },
    },
    { integrations: { 'Segment.io': { apiHost: `${endpoint.host}/v1`, protocol: endpoint.protocol.replace(':', '') } } },
  );
  const calls = plan(tag);
  const options = { anonymousId: calls.anonymousId };
  const ctxs = [];
  ctxs.push(await analytics.identify(calls.userId, calls.identify.traits, options));
  ctxs.push(await analytics.track(calls.track.event, calls.track.properties, options));
  ctxs.push(await analytics.page(calls.page.category, calls.page.name, calls.page.properties, options));
  ctxs.push(await analytics.screen(null, calls.screen.name, calls.screen.properties, options));
  ctxs.push(await analytics.group(calls.group.groupId, calls.group.traits, options));
  ctxs.push(await analytics.alias(calls.alias.userId, calls.alias.previousId, options));
  const errors = ctxs.flatMap((ctx) => (ctx.failedDelivery() ? [String(ctx.failedDelivery().reason)] : []));
  console.log(JSON.stringify({ errors, requests }));
  process.exit(errors.length ? 1 : 0);
}

main().catch((err) => { console.error(err); process.exit(1); });
