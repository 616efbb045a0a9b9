// `@anthropic-ai/sdk` against mockrouter's Messages surface (POST /api/v1/messages); see harness.mjs.
// The SDK appends /v1/messages to its baseURL, so it is given the API root (`.../api`), as users are told to.
import Anthropic from "@anthropic-ai/sdk";

import { describeError, run, TOOL_RESULT, WEATHER_PARAMETERS } from "./harness.mjs";

const client = (baseURL, apiKey, options = {}) =>
  new Anthropic({ baseURL: baseURL.replace(/\/v1\/?$/, ""), apiKey, timeout: 20000, ...options });
const user = (content) => [{ role: "user", content }];
const MAX_TOKENS = 2048;
const THINKING = { type: "enabled", budget_tokens: 1024 };
const WEATHER_TOOL = { name: "get_weather", description: "The current weather in a city.", input_schema: WEATHER_PARAMETERS };
const TIME_TOOL = { name: "get_time", description: "The local time in a city.", input_schema: WEATHER_PARAMETERS };

/** The parts of a Message the tests compare (its id and usage differ between two answers). */
const summary = (message) => ({
  id: message.id,
  type: message.type,
  role: message.role,
  model: message.model,
  content: message.content,
  stop_reason: message.stop_reason,
  stop_sequence: message.stop_sequence,
  usage: message.usage,
});

/** What the SDK raised, with the error body it parsed. */
function raisedBy(err) {
  return {
    raised: describeError(err),
    is_api_error: err instanceof Anthropic.APIError,
    is_anthropic_error: err instanceof Anthropic.AnthropicError,
    error_body: err?.error ?? null,
  };
}

/**
 * Stream with `client.messages.stream(...)` and wait for `finalMessage()`: the SDK's own accumulation.
 * Returns the text deltas and event types it surfaced on the way, and the final message, or what it raised.
 */
async function streamed(anthropic, params) {
  const stream = anthropic.messages.stream(params);
  const events = [];
  const texts = [];
  const thinking = [];
  const signatures = [];
  const json = [];
  stream.on("streamEvent", (event) => events.push(event.type));
  stream.on("text", (delta) => texts.push(delta));
  stream.on("thinking", (delta) => thinking.push(delta));
  stream.on("signature", (signature) => signatures.push(signature));
  stream.on("inputJson", (delta) => json.push(delta));
  const seen = () => ({ events, text: texts.join(""), text_deltas: texts.length, thinking, signatures, input_json: json });
  try {
    const message = await stream.finalMessage();
    return { ...seen(), final: summary(message) };
  } catch (err) {
    return { ...seen(), ...raisedBy(err) };
  }
}

/**
 * A stream that should break: `messages.stream(...)` + `finalMessage()` on the named scenario. The line
 * says what the SDK did either way (`raised`, or the `final` message it settled for); the test decides.
 */
function faulty(model) {
  return async ({ baseURL, key }) =>
    streamed(client(baseURL, key, { maxRetries: 0 }), {
      model,
      max_tokens: MAX_TOKENS,
      messages: user("Stream until it breaks"),
    });
}

await run({
  async message({ baseURL, key }) {
    const message = await client(baseURL, key).messages.create({
      model: "openai/gpt-4o-mini",
      max_tokens: MAX_TOKENS,
      messages: user("Hello from node anthropic"),
    });
    return summary(message);
  },

  async thinking({ baseURL, key }) {
    const message = await client(baseURL, key).messages.create({
      model: "mockrouter/reasoning",
      max_tokens: MAX_TOKENS,
      thinking: THINKING,
      messages: user("Think first"),
    });
    return summary(message);
  },

  // A tool loop run to completion: while the model asks for tools, run them and send their results back.
  async tool_loop({ baseURL, key }) {
    const anthropic = client(baseURL, key);
    const messages = user("What is the weather in Paris?");
    const turns = [];
    for (let turn = 0; turn < 4; turn += 1) {
      const message = await anthropic.messages.create({
        model: "mockrouter/tool-call",
        max_tokens: MAX_TOKENS,
        tools: [WEATHER_TOOL],
        messages,
      });
      turns.push(summary(message));
      if (message.stop_reason !== "tool_use") break;
      messages.push({ role: "assistant", content: message.content });
      const results = message.content
        .filter((block) => block.type === "tool_use")
        .map((block) => ({ type: "tool_result", tool_use_id: block.id, content: TOOL_RESULT }));
      messages.push({ role: "user", content: results });
    }
    return { turns };
  },

  // The same prompt answered whole and streamed: the streamed message accumulates to the same content.
  async stream({ baseURL, key }) {
    const anthropic = client(baseURL, key);
    const params = { model: "openai/gpt-4o-mini", max_tokens: MAX_TOKENS, messages: user("Stream me, node anthropic") };
    const whole = await anthropic.messages.create(params);
    const stream = await streamed(anthropic, params);
    return { whole: summary(whole), stream };
  },

  async stream_thinking({ baseURL, key }) {
    const anthropic = client(baseURL, key);
    const params = { model: "mockrouter/reasoning", max_tokens: MAX_TOKENS, thinking: THINKING, messages: user("Think aloud") };
    const whole = await anthropic.messages.create(params);
    const stream = await streamed(anthropic, params);
    return { whole: summary(whole), stream };
  },

  async stream_tool({ baseURL, key }) {
    return streamed(client(baseURL, key), {
      model: "mockrouter/tool-call",
      max_tokens: MAX_TOKENS,
      tools: [WEATHER_TOOL],
      messages: user("What is the weather in Paris?"),
    });
  },

  // `length` stops short (max_tokens), whole and streamed.
  async length({ baseURL, key }) {
    const anthropic = client(baseURL, key);
    const params = { model: "mockrouter/length", max_tokens: MAX_TOKENS, messages: user("Go on") };
    const whole = await anthropic.messages.create(params);
    const stream = await streamed(anthropic, params);
    return { whole: summary(whole), stream };
  },

  // `parallel-tool-calls` uses both declared tools in one answer: two tool_use blocks, streamed one after the other.
  async stream_parallel_tools({ baseURL, key }) {
    return streamed(client(baseURL, key), {
      model: "mockrouter/parallel-tool-calls",
      max_tokens: MAX_TOKENS,
      tools: [WEATHER_TOOL, TIME_TOOL],
      messages: user("Weather and time in Paris?"),
    });
  },

  // `rate-limited` answers 429 + Retry-After: 1 first; the SDK retries 429 by default and honours Retry-After.
  async rate_limited({ baseURL, key }) {
    const started = Date.now();
    const message = await client(baseURL, key).messages.create({
      model: "mockrouter/rate-limited",
      max_tokens: MAX_TOKENS,
      messages: user("Worth the wait"),
    });
    return { content: message.content, elapsed_ms: Date.now() - started };
  },

  // `node-overloaded` (added by the test for this case's key) answers 529 first; no retries allowed.
  async overloaded({ baseURL, key }) {
    try {
      await client(baseURL, key, { maxRetries: 0 }).messages.create({
        model: "mockrouter/node-overloaded",
        max_tokens: MAX_TOKENS,
        messages: user("Too busy?"),
      });
    } catch (err) {
      return { ...raisedBy(err), is_overloaded_error: err instanceof Anthropic.OverloadedError };
    }
    throw new Error("no error raised");
  },

  mid_stream_error: faulty("mockrouter/mid-stream-error"),
  malformed_chunk: faulty("mockrouter/malformed-chunk"),
  disconnect: faulty("mockrouter/disconnect"),
  // `node-truncate` (added by the test for this case's key): the stream ends cleanly before message_stop.
  truncate: faulty("mockrouter/node-truncate"),

  // The low-level way: iterate `messages.create({stream: true})` yourself, on the in-band error.
  async mid_stream_error_raw({ baseURL, key }) {
    const events = [];
    try {
      const stream = await client(baseURL, key, { maxRetries: 0 }).messages.create({
        model: "mockrouter/mid-stream-error",
        max_tokens: MAX_TOKENS,
        messages: user("Stream until it breaks"),
        stream: true,
      });
      for await (const event of stream) events.push(event.type);
    } catch (err) {
      return { events, ...raisedBy(err) };
    }
    return { events, raised: null };
  },
});
