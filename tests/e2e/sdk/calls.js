// The six Segment calls every SDK script sends, with fields the tests check on the topic.
'use strict';

function plan(tag) {
  const userId = `${tag}-user`;
  const anonymousId = `${tag}-anon`;
  const properties = { amount: 125.5, type: 'deposit', method: 'ach', platform: 'server', note: 'Überweisung ✓ 送金', nested: { a: [1, 2, { b: null }] } };
  return {
    userId,
    anonymousId,
    identify: { userId, anonymousId, traits: { email: `${tag}@example.com`, plan: 'free' } },
    track: { userId, anonymousId, event: 'transaction_initiated', properties },
    page: { userId, anonymousId, category: 'Marketing', name: 'Pricing', properties: { path: '/pricing' } },
    screen: { userId, anonymousId, name: 'Dashboard', properties: { tab: 'home' } },
    group: { userId, anonymousId, groupId: `${tag}-household`, traits: { name: 'Household' } },
    alias: { userId, previousId: anonymousId },
  };
}

function config() {
  const [url, writeKey, tag] = process.argv.slice(2);
  if (!url || !writeKey || !tag) {
    console.error('usage: node <script> INGEST_URL WRITE_KEY TAG');
    process.exit(2);
  }
  return { url, writeKey, tag };
}

module.exports = { plan, config };
