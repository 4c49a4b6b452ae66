// Fallback chains across protocols (TestSDKsFallBackAcrossProtocols): the
// gateway routes claude-529 to an overloaded Anthropic fake, then to
// oai:gpt-text, an OpenAI-protocol fake, translated; and gpt-500 to a
// failing OpenAI fake, then to ant:claude-text. The SDKs see their own
// protocol only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const base = process.env.GATEWAY_URL;
const key = process.env.GATEWAY_KEY;

async function calls(fake, model) {
  const r = await fetch(`${fake}/counts`);
  return (await r.json())[model] ?? 0;
}

test('anthropic: an overloaded Anthropic model falls back to an OpenAI-protocol one, plain and streamed', async () => {
  const client = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0 });
  const params = { model: 'claude-529', system: 'You are a terse assistant.', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello.' }] };
  const { data: r, response } = await client.messages.create(params).withResponse();
  assert.equal(r.content[0].text, 'Hello from the OpenAI fake.');
  assert.equal(r.stop_reason, 'end_turn');
  assert.equal(response.headers.get('x-llm-provider'), 'oai');
  const texts = [];
  const stream = client.messages.stream(params);
  stream.on('text', (t) => texts.push(t));
  const final = await stream.finalMessage();
  assert.equal(texts.join(''), 'Hello from the OpenAI fake.');
  assert.equal(final.usage.output_tokens, 6);
  assert.ok(await calls(process.env.ANTHROPIC_FAKE_URL, 'claude-529') >= 2, 'the Anthropic model was not tried first');
});

test('openai: a failing OpenAI model falls back to an Anthropic one, plain and streamed', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  const messages = [{ role: 'system', content: 'You are a terse assistant.' }, { role: 'user', content: 'Say hello.' }];
  const r = await client.chat.completions.create({ model: 'gpt-500', messages });
  assert.equal(r.choices[0].message.content, 'Hello from the Anthropic fake.');
  assert.equal(r.choices[0].finish_reason, 'stop');
  const stream = await client.chat.completions.create({ model: 'gpt-500', messages, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? '';
    usage = c.usage ?? usage;
  }
  assert.equal(text, 'Hello from the Anthropic fake.');
  assert.equal(usage.total_tokens, 27);
  assert.ok(await calls(process.env.OPENAI_FAKE_URL, 'gpt-500') >= 2, 'the OpenAI model was not tried first');
});
