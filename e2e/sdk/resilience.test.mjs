// The official SDKs, unchanged, against the gateway in front of a scripted
// fake provider (started by e2e/resilience_test.go): every provider
// failure reaches the SDK as the contract says, and the gateway never
// makes the provider less available than calling it directly, nor
// multiplies its load. The fake counts the calls it gets per model, at
// FAKE_URL/counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const base = process.env.GATEWAY_URL;
const key = process.env.GATEWAY_KEY;
const fake = process.env.FAKE_URL;
const messages = [{ role: 'user', content: 'Hello there' }];

async function calls(model) {
  const r = await fetch(`${fake}/counts`);
  return (await r.json())[model] ?? 0;
}

test('after a 429 on one model, another model of the same key answers', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  await assert.rejects(client.chat.completions.create({ model: 'limited-model', messages }), (err) => {
    assert.ok(err instanceof OpenAI.RateLimitError, err.constructor.name);
    assert.equal(err.headers.get('retry-after'), '20');
    return true;
  });
  const r = await client.chat.completions.create({ model: 'other-model', messages });
  assert.equal(r.choices[0].message.content, 'ok from other-model');
  assert.equal(await calls('other-model'), 1);
});

test('after a 401 on a single-key provider, the next request reaches the provider', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  await assert.rejects(client.chat.completions.create({ model: 'single:refused-once', messages }), OpenAI.AuthenticationError);
  const r = await client.chat.completions.create({ model: 'single:refused-once', messages });
  assert.equal(r.choices[0].message.content, 'ok from refused-once');
  assert.equal(await calls('refused-once'), 2);
});

test('a 403 reaches the client after one upstream call', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key });
  const start = Date.now();
  await assert.rejects(client.chat.completions.create({ model: 'forbidden-model', messages }), (err) => {
    assert.ok(err instanceof OpenAI.PermissionDeniedError, err.constructor.name);
    assert.equal(err.headers.get('x-llm-attempts'), '1');
    return true;
  });
  assert.equal(await calls('forbidden-model'), 1);
  assert.ok(Date.now() - start < 2000, `took ${Date.now() - start} ms`);
});

test('a 500 costs at most 2 upstream calls per client attempt', async () => {
  let sent = 0;
  const client = new OpenAI({
    baseURL: `${base}/v1`, apiKey: key, maxRetries: 2,
    fetch: (url, init) => { sent++; return fetch(url, init); },
  });
  await assert.rejects(client.chat.completions.create({ model: 'broken-model', messages }), (err) => {
    assert.ok(err instanceof OpenAI.InternalServerError, err.constructor.name);
    assert.equal(err.status, 502);
    return true;
  });
  assert.equal(sent, 3, `the SDK sent ${sent} attempts`);
  const upstream = await calls('broken-model');
  assert.ok(upstream <= 2 * sent, `${upstream} upstream calls for ${sent} client attempts`);
});

test('anthropic: a 529 storm is not multiplied, and the SDK reads overloaded', async () => {
  let sent = 0;
  const client = new Anthropic({
    baseURL: base, apiKey: key, maxRetries: 2,
    fetch: (url, init) => { sent++; return fetch(url, init); },
  });
  await assert.rejects(client.messages.create({ model: 'claude-overloaded', max_tokens: 10, messages }), (err) => {
    assert.equal(err.status, 529);
    assert.equal(err.error.error.type, 'overloaded_error');
    return true;
  });
  const upstream = await calls('claude-overloaded');
  assert.ok(upstream <= 2 * sent, `${upstream} upstream calls for ${sent} client attempts`);
});

test('a 200 whose JSON is cut off is retried: the SDK gets a whole answer', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  const r = await client.chat.completions.create({ model: 'truncated-once', messages });
  assert.equal(r.choices[0].message.content, 'ok from truncated-once');
  assert.equal(await calls('truncated-once'), 2);
});

test('a stream whose first event is an error is retried before the first byte', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'stream-error-once', messages, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, 'ok from stream-error-once');
  assert.equal(await calls('stream-error-once'), 2);
});
