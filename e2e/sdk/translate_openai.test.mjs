// The OpenAI SDK, unchanged, against the gateway routing its models to a
// provider that speaks only Anthropic Messages (the Go fake of
// e2e/fakes_test.go, at FAKE_URL). Everything here is what an OpenAI
// client sees; the fake checks what the provider got. Run by
// TestOpenAISDKOnAnthropicProvider.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const base = process.env.GATEWAY_URL;
const key = process.env.GATEWAY_KEY;
const fake = process.env.FAKE_URL;

const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
const hello = [
  { role: 'system', content: 'You are a terse assistant.' },
  { role: 'user', content: 'Say hello.' },
];

async function calls(model) {
  const r = await fetch(`${fake}/counts`);
  return (await r.json())[model] ?? 0;
}

const tools = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The current weather in a city.',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
  {
    type: 'function',
    function: {
      name: 'get_time',
      description: 'The local time in a city.',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, timezone: { type: 'string' } },
        required: ['city'],
      },
    },
  },
];
const question = { role: 'user', content: 'What is the weather and the time in Paris?' };

// read collects a chat completion stream as a client does.
async function read(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  const finish = chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean);
  const usage = chunks.filter((c) => c.usage);
  return { chunks, text, finish, usage };
}

// The headers of the provider's account (the fake sends them all),
// which the gateway keeps from clients.
const accountHeaders = ['anthropic-organization-id', 'anthropic-ratelimit-requests-limit', 'anthropic-ratelimit-requests-remaining', 'set-cookie'];
function leaked(headers) {
  return accountHeaders.filter((h) => headers.get(h) !== null);
}

test('a chat completion', async () => {
  const { data: r, response } = await client.chat.completions.create({ model: 'claude-text', messages: hello }).withResponse();
  assert.deepEqual(leaked(response.headers), []);
  assert.match(response.headers.get('content-type'), /^application\/json/);
  assert.match(r._request_id, /^req_/, 'the SDK reads no x-request-id');
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.model, 'claude-text');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, 'Hello from the Anthropic fake.');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.prompt_tokens, 20);
  assert.equal(r.usage.completion_tokens, 7);
  assert.equal(r.usage.total_tokens, 27);
});

test('a stream with stream_options.include_usage ends with the usage chunk', async () => {
  const { data: stream, response } = await client.chat.completions.create({
    model: 'claude-text', messages: hello, stream: true, stream_options: { include_usage: true },
  }).withResponse();
  assert.deepEqual(leaked(response.headers), []);
  assert.match(response.headers.get('content-type'), /^text\/event-stream/);
  const { chunks, text, finish, usage } = await read(stream);
  assert.equal(text, 'Hello from the Anthropic fake.');
  assert.deepEqual(finish, ['stop']);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id), 'one id on every chunk');
  assert.equal(usage.length, 1, 'one usage chunk');
  const last = chunks.at(-1);
  assert.equal(last, usage[0], 'the usage chunk is the last');
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.prompt_tokens, 20);
  assert.equal(last.usage.completion_tokens, 7);
  assert.equal(last.usage.total_tokens, 27);
});

test('a stream without include_usage has no usage chunk', async () => {
  const stream = await client.chat.completions.create({ model: 'claude-text', messages: hello, stream: true });
  const { chunks, text, finish, usage } = await read(stream);
  assert.equal(text, 'Hello from the Anthropic fake.');
  assert.deepEqual(finish, ['stop']);
  assert.equal(usage.length, 0, JSON.stringify(usage));
  assert.ok(chunks.every((c) => c.choices.length === 1), 'a chunk without choices');
});

test('the SDK\'s stream helper assembles the same completion', async () => {
  const stream = client.chat.completions.stream({ model: 'claude-text', messages: hello, stream_options: { include_usage: true } });
  const deltas = [];
  stream.on('content', (d) => deltas.push(d));
  const final = await stream.finalChatCompletion();
  assert.deepEqual(deltas, ['Hello', ' from', ' the', ' Anthropic', ' fake', '.']);
  assert.equal(final.choices[0].message.content, 'Hello from the Anthropic fake.');
  assert.equal(final.usage.total_tokens, 27);
});

for (const streamed of [false, true]) {
  test(`tools: two parallel tool calls, then the answer from their results (${streamed ? 'streamed' : 'plain'})`, async () => {
    const params = { model: 'claude-tools', tools, tool_choice: 'auto', messages: [question] };
    const first = streamed
      ? await client.chat.completions.stream(params).finalChatCompletion()
      : await client.chat.completions.create(params);
    const choice = first.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, "I'll check both.");
    const calls = choice.message.tool_calls;
    assert.deepEqual(calls.map((c) => [c.id, c.type, c.function.name, JSON.parse(c.function.arguments)]), [
      ['toolu_01WeatherFake', 'function', 'get_weather', { city: 'Paris' }],
      ['toolu_02TimeFake', 'function', 'get_time', { city: 'Paris', timezone: 'Europe/Paris' }],
    ]);
    const results = { get_weather: '18°C and sunny', get_time: '14:05 CET' };
    const second = {
      ...params,
      messages: [
        question,
        { role: 'assistant', content: choice.message.content, tool_calls: calls },
        ...calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: results[c.function.name] })),
        { role: 'user', content: 'Answer in one line.' },
      ],
    };
    const answer = streamed
      ? await client.chat.completions.stream(second).finalChatCompletion()
      : await client.chat.completions.create(second);
    assert.equal(answer.choices[0].finish_reason, 'stop');
    assert.equal(answer.choices[0].message.content, 'In Paris it is 18°C and sunny at 14:05 CET.');
    assert.ok(!answer.choices[0].message.tool_calls?.length);
  });
}

test('sampling, stop, user, max_completion_tokens, tool_choice required without parallel calls and an image reach the provider as Anthropic says them', async () => {
  const pixel = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
  const r = await client.chat.completions.create({
    model: 'claude-params',
    temperature: 1.5,
    top_p: 0.9,
    frequency_penalty: 0.5,
    seed: 7,
    stop: ['END', ' '],
    user: 'user-42',
    max_completion_tokens: 100,
    tools: tools.slice(0, 1),
    tool_choice: 'required',
    parallel_tool_calls: false,
    messages: [{
      role: 'user',
      content: [
        { type: 'text', text: 'Where is this?' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${pixel}` } },
      ],
    }],
  });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(r.choices[0].message.content, 'Checking.');
  assert.deepEqual(r.choices[0].message.tool_calls.map((c) => [c.id, c.function.name, JSON.parse(c.function.arguments)]), [
    ['toolu_09ParamsFake', 'get_weather', { city: 'Paris' }],
  ]);
});

for (const streamed of [false, true]) {
  test(`usage with cache reads and writes: prompt_tokens counts them all (${streamed ? 'streamed' : 'plain'})`, async () => {
    const params = { model: 'claude-cached', messages: hello };
    const r = streamed
      ? await client.chat.completions.stream({ ...params, stream_options: { include_usage: true } }).finalChatCompletion()
      : await client.chat.completions.create(params);
    assert.equal(r.usage.prompt_tokens, 500 + 1500 + 100);
    assert.equal(r.usage.prompt_tokens_details.cached_tokens, 1500);
    assert.equal(r.usage.completion_tokens, 7);
    assert.equal(r.usage.total_tokens, 2107);
  });
}

test('Anthropic overloaded (529) is the SDK\'s 503 in the openai envelope', async () => {
  for (const stream of [false, true]) {
    await assert.rejects(client.chat.completions.create({ model: 'claude-529', messages: hello, stream }), (err) => {
      assert.ok(err instanceof OpenAI.InternalServerError, `${err.constructor.name}: ${err.message}`);
      assert.equal(err.status, 503);
      assert.equal(err.error.type, 'service_unavailable');
      assert.equal(err.error.code, '503');
      assert.match(err.error.message, /overloaded/i);
      assert.equal(err.requestID, err.headers.get('x-request-id'));
      return true;
    });
  }
  const upstream = await calls('claude-529');
  assert.ok(upstream >= 2 && upstream <= 4, `${upstream} upstream calls for 2 client requests`);
});

test('an event: error in the middle of a stream makes the SDK\'s stream throw, and nothing follows', async () => {
  const stream = await client.chat.completions.create({ model: 'claude-midstream', messages: hello, stream: true });
  let text = '';
  await assert.rejects(
    (async () => { for await (const c of stream) text += c.choices[0]?.delta?.content ?? ''; })(),
    (err) => {
      assert.ok(err instanceof OpenAI.APIError, `${err.constructor.name}: ${err.message}`);
      assert.match(err.message, /overloaded/i);
      return true;
    },
  );
  assert.equal(text, 'Partial answer then');

  // The same stream on the wire: the error is the last event, no [DONE].
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'claude-midstream', messages: hello, stream: true }),
  });
  assert.equal(r.status, 200);
  const data = [...(await r.text()).matchAll(/^data: (.*)$/gm)].map((m) => m[1]);
  assert.ok(!data.includes('[DONE]'), 'a [DONE] after the error');
  const last = JSON.parse(data.at(-1));
  assert.ok(last.error, data.at(-1));
  assert.equal(last.error.type, 'service_unavailable');
  assert.ok(!data.slice(0, -1).some((d) => d.includes('"error"')), 'an error before the last event');
  assert.ok(!data.some((d) => d.includes('"finish_reason":"stop"')), 'a finish chunk in a failed stream');
});

test('a stream whose provider connection breaks makes the SDK\'s stream throw, with no finish chunk or [DONE] before', async () => {
  const stream = await client.chat.completions.create({ model: 'claude-cut', messages: hello, stream: true });
  let text = '';
  const finish = [];
  await assert.rejects(
    (async () => {
      for await (const c of stream) {
        text += c.choices[0]?.delta?.content ?? '';
        if (c.choices[0]?.finish_reason) finish.push(c.choices[0].finish_reason);
      }
    })(),
    (err) => {
      assert.ok(err instanceof OpenAI.APIError, `${err.constructor.name}: ${err.message}`);
      return true;
    },
  );
  assert.equal(text, 'Partial answer');
  assert.deepEqual(finish, []);
});

test('the Responses API, which has no Anthropic equivalent, is refused with a BadRequestError before any provider call', async () => {
  const before = await calls('claude-text');
  await assert.rejects(client.responses.create({ model: 'claude-text', input: 'Say hello.' }), (err) => {
    assert.ok(err instanceof OpenAI.BadRequestError, `${err.constructor.name}: ${err.message}`);
    assert.equal(err.error.type, 'invalid_request_error');
    assert.match(err.error.message, /responses/);
    return true;
  });
  assert.equal(await calls('claude-text'), before);
});
