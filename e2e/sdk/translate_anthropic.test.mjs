// The Anthropic SDK, unchanged, against the gateway routing its models to
// a provider that speaks only OpenAI Chat Completions (the Go fake of
// e2e/fakes_test.go, at FAKE_URL). Everything here is what an Anthropic
// client sees; the fake checks what the provider got. Run by
// TestAnthropicSDKOnOpenAIProvider.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';

const base = process.env.GATEWAY_URL;
const key = process.env.GATEWAY_KEY;
const fake = process.env.FAKE_URL;

const client = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0 });
const hello = { system: 'You are a terse assistant.', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello.' }] };

async function calls(model) {
  const r = await fetch(`${fake}/counts`);
  return (await r.json())[model] ?? 0;
}

const tools = [
  {
    name: 'get_weather',
    description: 'The current weather in a city.',
    input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
  {
    name: 'get_time',
    description: 'The local time in a city.',
    input_schema: {
      type: 'object',
      properties: { city: { type: 'string' }, timezone: { type: 'string' } },
      required: ['city'],
    },
  },
];
const question = { role: 'user', content: 'What is the weather and the time in Paris?' };

// The headers of the provider's account (the fake sends them all),
// which the gateway keeps from clients.
const accountHeaders = ['openai-organization', 'openai-project', 'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'set-cookie'];
function leaked(headers) {
  return accountHeaders.filter((h) => headers.get(h) !== null);
}

test('a message', async () => {
  const { data: r, response } = await client.messages.create({ model: 'gpt-text', ...hello }).withResponse();
  assert.deepEqual(leaked(response.headers), []);
  assert.match(response.headers.get('content-type'), /^application\/json/);
  assert.match(r._request_id, /^req_/, 'the SDK reads no request-id');
  assert.equal(r.type, 'message');
  assert.equal(r.role, 'assistant');
  assert.match(r.id, /^msg_/);
  assert.equal(r.model, 'gpt-text');
  assert.deepEqual(r.content, [{ type: 'text', text: 'Hello from the OpenAI fake.' }]);
  assert.equal(r.stop_reason, 'end_turn');
  assert.equal(r.usage.input_tokens, 24);
  assert.equal(r.usage.output_tokens, 6);
});

test('a stream, read with on("text") and finalMessage()', async () => {
  const stream = client.messages.stream({ model: 'gpt-text', ...hello });
  const { response } = await stream.withResponse();
  assert.deepEqual(leaked(response.headers), []);
  assert.match(response.headers.get('content-type'), /^text\/event-stream/);
  const texts = [];
  const events = [];
  stream.on('text', (t) => texts.push(t));
  stream.on('streamEvent', (e) => events.push(e.type));
  const final = await stream.finalMessage();
  assert.deepEqual(texts, ['Hello', ' from', ' the', ' OpenAI', ' fake', '.']);
  assert.deepEqual(final.content.map((b) => [b.type, b.text]), [['text', 'Hello from the OpenAI fake.']]);
  assert.equal(final.stop_reason, 'end_turn');
  assert.equal(final.usage.output_tokens, 6);
  assert.equal(final.usage.input_tokens, 24);
  // The Anthropic event grammar, complete and in order.
  assert.equal(events[0], 'message_start');
  assert.equal(events.at(-1), 'message_stop');
  assert.equal(events.at(-2), 'message_delta');
  assert.equal(events.filter((e) => e === 'content_block_start').length, 1);
  assert.equal(events.filter((e) => e === 'content_block_stop').length, 1);
});

for (const streamed of [false, true]) {
  test(`the provider's reasoning_content is a thinking block before the text, never text (${streamed ? 'streamed' : 'plain'})`, async () => {
    const params = { model: 'gpt-reasoning', thinking: { type: 'enabled', budget_tokens: 1024 }, ...hello };
    const r = streamed ? await client.messages.stream(params).finalMessage() : await client.messages.create(params);
    assert.deepEqual(r.content.map((b) => b.type), ['thinking', 'text']);
    assert.equal(r.content[0].thinking, 'The user wants a greeting.');
    assert.equal(r.content[1].text, 'Hello.');
    assert.equal(r.stop_reason, 'end_turn');
  });
}

for (const streamed of [false, true]) {
  test(`tools: two parallel calls, then the answer from their results (${streamed ? 'streamed' : 'plain'})`, async () => {
    const params = { model: 'gpt-tools', max_tokens: 256, tools, tool_choice: { type: 'auto' }, messages: [question] };
    const first = streamed ? await client.messages.stream(params).finalMessage() : await client.messages.create(params);
    assert.equal(first.stop_reason, 'tool_use');
    assert.equal(first.content[0].type, 'text');
    assert.equal(first.content[0].text, "I'll check both.");
    const uses = first.content.filter((b) => b.type === 'tool_use');
    assert.deepEqual(uses.map((u) => [u.id, u.name, u.input]), [
      ['call_weather_1', 'get_weather', { city: 'Paris' }],
      ['call_time_2', 'get_time', { city: 'Paris', timezone: 'Europe/Paris' }],
    ]);
    const results = { get_weather: '18°C and sunny', get_time: '14:05 CET' };
    const second = {
      ...params,
      messages: [
        question,
        { role: 'assistant', content: first.content },
        {
          role: 'user',
          content: [
            ...uses.map((u) => ({ type: 'tool_result', tool_use_id: u.id, content: results[u.name] })),
            { type: 'text', text: 'Answer in one line.' },
          ],
        },
      ],
    };
    const answer = streamed ? await client.messages.stream(second).finalMessage() : await client.messages.create(second);
    assert.equal(answer.stop_reason, 'end_turn');
    assert.equal(answer.content.length, 1);
    assert.equal(answer.content[0].text, 'In Paris it is 18°C and sunny at 14:05 CET.');
  });
}

test('sampling, stop sequences, user, tool_choice any without parallel calls and an image reach the provider as OpenAI says them', async () => {
  const pixel = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
  const r = await client.messages.create({
    model: 'gpt-params',
    max_tokens: 128,
    temperature: 0.3,
    top_p: 0.9,
    top_k: 40,
    stop_sequences: ['END'],
    metadata: { user_id: 'user-42' },
    tools: tools.slice(0, 1),
    tool_choice: { type: 'any', disable_parallel_tool_use: true },
    messages: [{
      role: 'user',
      content: [
        { type: 'text', text: 'Where is this?' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: pixel } },
      ],
    }],
  });
  assert.equal(r.stop_reason, 'tool_use');
  assert.deepEqual(r.content.map((b) => [b.type, b.name, b.input]), [['tool_use', 'get_weather', { city: 'Paris' }]]);
});

for (const streamed of [false, true]) {
  test(`usage with cache reads: input_tokens is the prompt less the cached tokens (${streamed ? 'streamed' : 'plain'})`, async () => {
    const params = { model: 'gpt-cached', ...hello };
    const r = streamed ? await client.messages.stream(params).finalMessage() : await client.messages.create(params);
    assert.equal(r.usage.cache_read_input_tokens, 1500);
    assert.equal(r.usage.input_tokens, 500);
    assert.equal(r.usage.output_tokens, 6);
    assert.ok(!r.usage.cache_creation_input_tokens, `cache_creation_input_tokens ${r.usage.cache_creation_input_tokens}`);
  });
}

test('a stream whose usage comes on the finish chunk (DeepSeek, vLLM), or never, is whole all the same', async () => {
  const onFinish = await client.messages.stream({ model: 'gpt-usage-on-finish', ...hello }).finalMessage();
  assert.equal(onFinish.content[0].text, 'Hello from the OpenAI fake.');
  assert.equal(onFinish.stop_reason, 'end_turn');
  assert.equal(onFinish.usage.input_tokens, 24);
  assert.equal(onFinish.usage.output_tokens, 6);
  // A server that ignores stream_options: the gateway estimates.
  const none = await client.messages.stream({ model: 'gpt-no-stream-usage', ...hello }).finalMessage();
  assert.equal(none.content[0].text, 'Hello from the OpenAI fake.');
  assert.equal(none.stop_reason, 'end_turn');
  assert.ok(none.usage.input_tokens > 0 && none.usage.output_tokens > 0, JSON.stringify(none.usage));
});

test('a stream with comments, CRLF line ends and no space after "data:" (OpenRouter) is read all the same', async () => {
  const texts = [];
  const stream = client.messages.stream({ model: 'gpt-crlf', max_tokens: 64, messages: hello.messages });
  stream.on('text', (t) => texts.push(t));
  const r = await stream.finalMessage();
  assert.deepEqual(texts, ['Hello', ' over', ' CRLF', '.']);
  assert.equal(r.stop_reason, 'end_turn');
  assert.equal(r.usage.output_tokens, 4);
});

test('a provider 429 is a RateLimitError with its Retry-After', async () => {
  for (const streamed of [false, true]) {
    const params = { model: 'gpt-429', ...hello };
    const attempt = streamed ? client.messages.stream(params).finalMessage() : client.messages.create(params);
    await assert.rejects(attempt, (err) => {
      assert.ok(err instanceof Anthropic.RateLimitError, `${err.constructor.name}: ${err.message}`);
      assert.equal(err.status, 429);
      // The provider's 7 s (the second time, what is left of it: the
      // gateway set the key aside for this model until then).
      const wait = Number(err.headers.get('retry-after'));
      assert.ok(streamed ? wait >= 5 && wait <= 7 : wait === 7, `retry-after ${wait}`);
      assert.equal(err.error.type, 'error');
      assert.equal(err.error.error.type, 'rate_limit_error');
      assert.equal(err.requestID, err.headers.get('x-request-id'));
      return true;
    });
  }
  const upstream = await calls('gpt-429');
  assert.ok(upstream >= 1 && upstream <= 2, `${upstream} upstream calls for two 429s with Retry-After beyond max_wait`);
});

test('a provider 400 is a BadRequestError with its message', async () => {
  await assert.rejects(client.messages.create({ model: 'gpt-400', temperature: 0.5, ...hello }), (err) => {
    assert.ok(err instanceof Anthropic.BadRequestError, `${err.constructor.name}: ${err.message}`);
    assert.equal(err.error.error.type, 'invalid_request_error');
    assert.match(err.error.error.message, /temperature/);
    assert.doesNotMatch(err.message, /sk-fake/);
    return true;
  });
  assert.equal(await calls('gpt-400'), 1, 'a 400 is not retried');
});

test('a provider 500 reaches the SDK as a 5xx after the gateway\'s bounded retries', async () => {
  let sent = 0;
  const retrying = new Anthropic({
    baseURL: base, apiKey: key, maxRetries: 1,
    fetch: (url, init) => { sent++; return fetch(url, init); },
  });
  await assert.rejects(retrying.messages.create({ model: 'gpt-500', ...hello }), (err) => {
    assert.ok(err instanceof Anthropic.InternalServerError, `${err.constructor.name}: ${err.message}`);
    assert.equal(err.status, 502);
    assert.equal(err.error.error.type, 'api_error');
    return true;
  });
  assert.equal(sent, 2, `the SDK sent ${sent} attempts`);
  const upstream = await calls('gpt-500');
  assert.ok(upstream >= sent && upstream <= 2 * sent, `${upstream} upstream calls for ${sent} client attempts`);
});

test('an error chunk in the middle of a stream rejects the stream with its message, and nothing follows', async () => {
  const stream = client.messages.stream({ model: 'gpt-midstream', ...hello });
  const texts = [];
  stream.on('text', (t) => texts.push(t));
  await assert.rejects(stream.finalMessage(), (err) => {
    assert.ok(err instanceof Anthropic.APIError, `${err.constructor.name}: ${err.message}`);
    assert.match(err.message, /failed in the middle of the stream/);
    return true;
  });
  assert.deepEqual(texts, ['Partial', ' answer', ' then']);

  // The same stream on the wire: the error is the last event.
  const r = await fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'gpt-midstream', stream: true, ...hello }),
  });
  assert.equal(r.status, 200);
  const wire = await r.text();
  const names = [...wire.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
  assert.equal(names[0], 'message_start');
  assert.equal(names.at(-1), 'error', wire);
  assert.equal(names.filter((n) => n === 'error').length, 1);
  assert.ok(!names.includes('message_stop') && !names.includes('message_delta'), names.join(','));
  const error = JSON.parse(wire.trim().split('\n').at(-1).replace(/^data: /, ''));
  assert.equal(error.type, 'error');
  assert.equal(error.request_id, r.headers.get('x-request-id'));
});

test('a stream whose provider connection breaks ends with an error event the SDK rejects with, not a made-up end_turn', async () => {
  const stream = client.messages.stream({ model: 'gpt-cut', ...hello });
  const texts = [];
  stream.on('text', (t) => texts.push(t));
  await assert.rejects(stream.finalMessage(), (err) => {
    assert.ok(err instanceof Anthropic.APIError, `${err.constructor.name}: ${err.message}`);
    return true;
  });
  assert.deepEqual(texts, ['Partial', ' answer']);
});

test('count_tokens on the OpenAI route is estimated by the gateway', async () => {
  const before = await calls('gpt-text');
  const r = await client.messages.countTokens({ model: 'gpt-text', system: hello.system, messages: hello.messages, tools });
  assert.ok(r.input_tokens > 10 && r.input_tokens < 1000, `${r.input_tokens}`);
  assert.equal(await calls('gpt-text'), before, 'count_tokens reached the provider');
});
