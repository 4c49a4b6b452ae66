// Drives a realistic mix of traffic through the gateway that Caddyfile
// (beside this file) configures: plain and streamed chat completions,
// Anthropic messages (native and translated), embeddings, a flaky model,
// simulated provider failures, a provider outage that opens its circuit, a
// provider rate-limit storm, a CI key over its rpm limit and a batch key
// that spends its budget, plus a few client mistakes.
//
//   node load.mjs [seconds]        (GW_PORT, default 18080)
const base = `http://127.0.0.1:${process.env.GW_PORT || 18080}`;
const seconds = Number(process.argv[2] || process.env.DURATION || 120);
const start = Date.now();
const until = start + seconds * 1000;
const elapsed = () => (Date.now() - start) / 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const jitter = (lo, hi) => lo + Math.random() * (hi - lo);

const KEYS = { teamA: 'ck-demo-team-a', ci: 'ck-demo-ci', batch: 'ck-demo-batch' };
const counts = new Map();

const questions = [
  'Summarise the release notes for version 2.11 in three bullet points.',
  'Write a haiku about load balancers.',
  'What is the difference between a retry budget and a circuit breaker?',
  'Translate "the cache is warm" into French and German.',
  'Explain exponential backoff to a new engineer.',
  'List three ways to reduce time to first token.',
];
const q = () => questions[Math.floor(Math.random() * questions.length)];

async function send(path, key, body, headers = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  let status = 'error';
  try {
    const res = await fetch(base + path, {
      method: 'POST', headers: h,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(30000),
    });
    status = res.status;
    await res.arrayBuffer(); // read streams to their end
  } catch (e) {
    status = e.name;
  }
  const k = `${path} ${typeof body === 'string' ? 'raw' : body.model} ${status}`;
  counts.set(k, (counts.get(k) || 0) + 1);
  return status;
}

const chat = (key, model, opts = {}) => send('/v1/chat/completions', key, {
  model, stream: !!opts.stream, max_tokens: opts.max_tokens,
  messages: [{ role: 'user', content: opts.prompt || q() }],
});
const messages = (key, model, opts = {}) => send('/v1/messages', key, {
  model, stream: !!opts.stream, max_tokens: opts.max_tokens || 1024,
  messages: [{ role: 'user', content: opts.prompt || q() }],
}, { 'anthropic-version': '2023-06-01' });
const embed = (key) => send('/v1/embeddings', key, { model: 'gpt-4o-mini', input: [q(), q()] });

// team-a: the interactive mix, weighted.
const mix = [
  [22, () => chat(KEYS.teamA, 'gpt-4o-mini')],
  [14, () => chat(KEYS.teamA, 'gpt-4o', { stream: true })],
  [14, () => messages(KEYS.teamA, 'claude-sonnet-4-5', { stream: true })],
  [10, () => messages(KEYS.teamA, 'claude-haiku-4-5', { stream: true })], // translated: an OpenAI-protocol provider
  [5, () => chat(KEYS.teamA, 'claude-sonnet-4-5')], // translated the other way
  [10, () => chat(KEYS.teamA, 'deepseek-chat', { stream: Math.random() < 0.5 })],
  [8, () => chat(KEYS.teamA, 'mock-flaky', { stream: true })],
  [6, () => chat(KEYS.teamA, 'llama-3.1-70b-versatile')],
  [4, () => embed(KEYS.teamA)],
  [3, () => messages(KEYS.teamA, 'mock-anthropic-529', { stream: true })], // falls back to groq
  [1.5, () => chat(KEYS.teamA, 'mock-openai-500')],
  [1, () => chat(KEYS.teamA, 'mock-openai-429')],
  [0.4, () => chat(KEYS.teamA, 'mock-slow-stream', { stream: true })],
  [0.8, () => chat(KEYS.teamA, 'mock-stream-error', { stream: true })], // fails after the first byte
  [0.5, () => messages(KEYS.teamA, 'mock-stream-cut', { stream: true })],
  [0.6, () => chat(null, 'gpt-4o-mini')], // no key
  [0.6, () => chat(KEYS.teamA, 'gpt-5-preview')], // no such model
  [0.3, () => send('/v1/chat/completions', KEYS.teamA, '{"model": "gpt-4o-mini", "messages": [')], // bad JSON
];
const total = mix.reduce((s, [w]) => s + w, 0);
function pick() {
  let r = Math.random() * total;
  for (const [w, f] of mix) if ((r -= w) < 0) return f;
  return mix[0][1];
}

async function loop(fn, pause) {
  while (Date.now() < until) {
    await fn();
    await sleep(pause());
  }
}
async function during(from, to, fn, pause) {
  await sleep(Math.max(0, from * 1000 - (Date.now() - start)));
  while (elapsed() < to && Date.now() < until) {
    fn(); // not awaited: a steady arrival rate
    await sleep(pause());
  }
}

const long = 'Please review this log excerpt and say what failed. '.repeat(300); // ~4k tokens
const frac = (a) => Math.round(seconds * a);
await Promise.all([
  ...Array.from({ length: 5 }, () => loop(() => pick()(), () => jitter(50, 350))),
  // ci: about 100 requests a minute against its rpm 30 (a bucket of 30,
  // refilled at one every 2s)
  loop(() => chat(KEYS.ci, 'gpt-4o-mini'), () => jitter(400, 800)),
  // batch: long prompts to gpt-4o until its budget is spent
  loop(() => chat(KEYS.batch, 'gpt-4o', { prompt: long, max_tokens: 512 }), () => jitter(900, 1400)),
  // deepseek's connection resets: its circuit opens, deepseek-chat falls back
  during(frac(0.25), frac(0.42), () => chat(KEYS.teamA, 'mock-reset'), () => jitter(300, 500)),
  // a rate-limit storm at openai: the key is set aside for that model
  during(frac(0.55), frac(0.72), () => chat(KEYS.teamA, 'mock-openai-429'), () => jitter(400, 700)),
]);

const lines = [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${String(n).padStart(5)}  ${k}`);
console.log(`load: ${[...counts.values()].reduce((a, b) => a + b, 0)} requests in ${elapsed().toFixed(0)}s`);
console.log(lines.join('\n'));
