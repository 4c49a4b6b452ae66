// The official OpenAI and Anthropic SDKs, unchanged, against the gateway
// and its mock provider: answers, streams, and errors that the SDKs' own
// classes and retry logic read right. Run by e2e/sdk_test.go, which starts
// the gateway and sets GATEWAY_URL and the keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const base = process.env.GATEWAY_URL;
const key = process.env.GATEWAY_KEY;
const limitedKey = process.env.GATEWAY_LIMITED_KEY;
const messages = [{ role: 'user', content: 'Hello there' }];

const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: key });
const anthropic = new Anthropic({ baseURL: base, apiKey: key });

test('openai: chat completion', async () => {
  const r = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
  assert.match(r.choices[0].message.content, /mock/);
  assert.ok(r.usage.total_tokens > 0);
});

test('openai: streamed chat completion arrives in chunks', async () => {
  const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    chunks++;
  }
  assert.ok(chunks > 5, `${chunks} chunks`);
  assert.match(text, /mock/);
});

test('openai: models list', async () => {
  const ids = [];
  for await (const m of openai.models.list()) ids.push(m.id);
  assert.ok(ids.includes('gpt-4o-mini'), ids.join(','));
});

test('openai: embeddings', async () => {
  const r = await openai.embeddings.create({ model: 'mock-embed', input: ['a', 'b'] });
  assert.equal(r.data.length, 2);
});

test('openai: an unknown model is a NotFoundError with the request ID', async () => {
  await assert.rejects(openai.chat.completions.create({ model: 'no-such-model', messages }), (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, err.constructor.name);
    assert.equal(err.status, 404);
    assert.equal(err.error.type, 'not_found');
    assert.match(err.message, /no-such-model/);
    assert.match(err.requestID, /^req_/);
    return true;
  });
});

test('openai: a provider rate limit is a RateLimitError with Retry-After', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  await assert.rejects(client.chat.completions.create({ model: 'mock-openai-429', messages }), (err) => {
    assert.ok(err instanceof OpenAI.RateLimitError, err.constructor.name);
    assert.equal(err.headers.get('retry-after'), '3');
    return true;
  });
});

test("openai: the key's own rate limit", async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: limitedKey, maxRetries: 0 });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages }), (err) => {
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.equal(err.headers.get('x-ratelimit-limit-requests'), '2');
    assert.ok(Number(err.headers.get('retry-after')) >= 1);
    return true;
  });
});

test('openai: x-should-retry false stops the SDK from retrying a 503', async () => {
  // An account out of credit is a 503, which the SDK would retry (twice by
  // default); the gateway says not to. Count what the SDK sends.
  let sent = 0;
  const client = new OpenAI({
    baseURL: `${base}/v1`,
    apiKey: key,
    fetch: (url, init) => { sent++; return fetch(url, init); },
  });
  await assert.rejects(client.chat.completions.create({ model: 'mock-openai-quota', messages }), (err) => {
    assert.equal(err.status, 503);
    assert.equal(err.headers.get('x-should-retry'), 'false');
    return true;
  });
  assert.equal(sent, 1, `the SDK sent the request ${sent} times`);
});

test('openai: an invalid key is an AuthenticationError', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'ck-wrong' });
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages }), OpenAI.AuthenticationError);
});

test('openai: a flaky provider is hidden by the gateway (and the SDK)', async () => {
  // The mock fails a third of its attempts; the gateway retries up to five
  // times, and the SDK its default two, as clients run in practice.
  for (let i = 0; i < 20; i++) {
    const r = await openai.chat.completions.create({ model: 'mock-flaky', messages });
    assert.ok(r.choices.length > 0);
  }
});

test('anthropic: message', async () => {
  const r = await anthropic.messages.create({ model: 'mock-claude', max_tokens: 100, messages });
  assert.equal(r.type, 'message');
  assert.match(r.content[0].text, /mock/);
  assert.ok(r.usage.output_tokens > 0);
});

test('anthropic: streamed message, with the key as a bearer token (Claude Code)', async () => {
  const client = new Anthropic({ baseURL: base, authToken: key, apiKey: null });
  const stream = client.messages.stream({ model: 'mock-claude', max_tokens: 100, messages });
  let deltas = 0;
  stream.on('text', () => deltas++);
  const final = await stream.finalMessage();
  assert.ok(deltas > 5, `${deltas} deltas`);
  assert.equal(final.stop_reason, 'end_turn');
});

test('anthropic: count tokens', async () => {
  const r = await anthropic.messages.countTokens({ model: 'mock-claude', messages });
  assert.ok(r.input_tokens > 0);
});

test('anthropic: overloaded is a 529 with the request ID', async () => {
  const client = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0 });
  await assert.rejects(client.messages.create({ model: 'mock-anthropic-529', max_tokens: 10, messages }), (err) => {
    assert.ok(err instanceof Anthropic.APIError, err.constructor.name);
    assert.equal(err.status, 529);
    assert.equal(err.error.error.type, 'overloaded_error');
    assert.equal(err.requestID, err.headers.get('x-request-id'));
    assert.equal(err.error.request_id, err.requestID);
    return true;
  });
});

test('anthropic: an error in the middle of a stream reaches the SDK', async () => {
  const stream = anthropic.messages.stream({ model: 'mock-stream-error', max_tokens: 100, messages });
  await assert.rejects(stream.finalMessage(), (err) => {
    assert.match(String(err.message), /overloaded/i);
    return true;
  });
});

test('anthropic: an invalid key is an AuthenticationError', async () => {
  const client = new Anthropic({ baseURL: base, apiKey: 'ck-wrong' });
  await assert.rejects(client.messages.create({ model: 'mock-claude', max_tokens: 10, messages }), Anthropic.AuthenticationError);
});
