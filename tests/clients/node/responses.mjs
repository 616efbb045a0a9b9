// The `openai` npm package's Responses API (`client.responses.*`) against mockrouter's POST /api/v1/responses;
// see harness.mjs. `responses.stream(...)` runs every event through the SDK's accumulator, which throws on an
// event type or an index it does not know, so a wrong event here fails the case.
import OpenAI from "openai";

import { describeError, run, TOOL_RESULT, WEATHER_PARAMETERS } from "./harness.mjs";

const client = (baseURL, apiKey, options = {}) => new OpenAI({ baseURL, apiKey, timeout: 20000, ...options });
const WEATHER_TOOL = {
  type: "function",
  name: "get_weather",
  description: "The current weather in a city.",
  parameters: WEATHER_PARAMETERS,
  strict: true,
};
const TIME_TOOL = { ...WEATHER_TOOL, name: "get_time", description: "The local time in a city." };

/** The parts of a Response the tests compare (ids and timestamps differ between two answers). */
const summary = (response) => ({
  id: response.id,
  object: response.object,
  status: response.status,
  model: response.model,
  output: response.output,
  output_text: response.output_text,
  incomplete_details: response.incomplete_details ?? null,
  error: response.error ?? null,
  usage: response.usage,
});

/** What the SDK raised (an Error, or whatever it rejected with), with the error body it parsed. */
function raisedBy(err) {
  return {
    raised: describeError(err),
    is_openai_error: err instanceof OpenAI.OpenAIError,
    is_api_error: err instanceof OpenAI.APIError,
    error_body: err?.error ?? null,
  };
}

/**
 * Stream with `client.responses.stream(...)` and wait for `finalResponse()`: the SDK's own accumulation.
 * Returns every event's type and sequence_number, the text deltas, and the final response, or what it raised.
 */
async function streamed(openai, params) {
  const stream = openai.responses.stream(params);
  const events = [];
  const sequence = [];
  const texts = [];
  const args = [];
  stream.on("event", (event) => {
    events.push(event.type);
    sequence.push(event.sequence_number);
  });
  stream.on("response.output_text.delta", (event) => texts.push(event.delta));
  stream.on("response.function_call_arguments.delta", (event) => args.push(event.delta));
  const seen = () => ({ events, sequence, text: texts.join(""), text_deltas: texts.length, argument_deltas: args });
  try {
    const response = await stream.finalResponse();
    return { ...seen(), final: summary(response) };
  } catch (err) {
    return { ...seen(), ...raisedBy(err) };
  }
}

/**
 * A stream that should break: `responses.stream(...)` + `finalResponse()` on the named scenario. The line
 * says what the SDK did either way (`raised`, or the `final` response it settled for); the test decides.
 */
function faulty(model) {
  return async ({ baseURL, key }) =>
    streamed(client(baseURL, key, { maxRetries: 0 }), { model, input: "Stream until it breaks" });
}

await run({
  async response({ baseURL, key }) {
    const response = await client(baseURL, key).responses.create({
      model: "openai/gpt-4o-mini",
      input: "Hello from node responses",
    });
    return summary(response);
  },

  async instructions({ baseURL, key }) {
    const response = await client(baseURL, key).responses.create({
      model: "openai/gpt-4o-mini",
      instructions: "Answer in one line.",
      input: [{ role: "user", content: [{ type: "input_text", text: "Items, not a string" }] }],
      max_output_tokens: 256,
    });
    return summary(response);
  },

  async reasoning({ baseURL, key }) {
    const openai = client(baseURL, key);
    const params = { model: "mockrouter/reasoning", input: "Think first", reasoning: { effort: "low" } };
    const whole = await openai.responses.create(params);
    const stream = await streamed(openai, params);
    return { whole: summary(whole), stream };
  },

  // Function tools run to completion: function_call items out, function_call_output items back in.
  async tool_loop({ baseURL, key }) {
    const openai = client(baseURL, key);
    const input = [{ role: "user", content: "What is the weather in Paris?" }];
    const turns = [];
    for (let turn = 0; turn < 4; turn += 1) {
      const response = await openai.responses.create({ model: "mockrouter/tool-call", input, tools: [WEATHER_TOOL] });
      turns.push(summary(response));
      const calls = response.output.filter((item) => item.type === "function_call");
      if (!calls.length) break;
      input.push(...response.output);
      for (const call of calls) input.push({ type: "function_call_output", call_id: call.call_id, output: TOOL_RESULT });
    }
    return { turns };
  },

  // The same prompt answered whole and streamed: the streamed response accumulates to the same output.
  async stream({ baseURL, key }) {
    const openai = client(baseURL, key);
    const params = { model: "openai/gpt-4o-mini", input: "Stream me, node responses" };
    const whole = await openai.responses.create(params);
    const stream = await streamed(openai, params);
    return { whole: summary(whole), stream };
  },

  async stream_tool({ baseURL, key }) {
    return streamed(client(baseURL, key), {
      model: "mockrouter/tool-call",
      input: "What is the weather in Paris?",
      tools: [WEATHER_TOOL],
    });
  },

  // `length` stops short: an incomplete response (max_output_tokens), whole and streamed.
  async length({ baseURL, key }) {
    const openai = client(baseURL, key);
    const params = { model: "mockrouter/length", input: "Go on" };
    const whole = await openai.responses.create(params);
    const stream = await streamed(openai, params);
    return { whole: summary(whole), stream };
  },

  // `parallel-tool-calls` calls both declared tools in one answer: two function_call items, streamed.
  async stream_parallel_tools({ baseURL, key }) {
    return streamed(client(baseURL, key), {
      model: "mockrouter/parallel-tool-calls",
      input: "Weather and time in Paris?",
      tools: [WEATHER_TOOL, TIME_TOOL],
    });
  },

  // `rate-limited` answers 429 + Retry-After: 1 first; with retries off the SDK raises RateLimitError.
  async rate_limited({ baseURL, key }) {
    try {
      await client(baseURL, key, { maxRetries: 0 }).responses.create({ model: "mockrouter/rate-limited", input: "Hi" });
    } catch (err) {
      return {
        ...raisedBy(err),
        is_rate_limit_error: err instanceof OpenAI.RateLimitError,
        retry_after: err.headers?.get?.("retry-after") ?? null,
      };
    }
    throw new Error("no error raised");
  },

  // With the default retries the same 429 is waited out (Retry-After: 1) and the retry answers.
  async rate_limited_retried({ baseURL, key }) {
    const started = Date.now();
    const response = await client(baseURL, key).responses.create({ model: "mockrouter/rate-limited", input: "Worth the wait" });
    return { output_text: response.output_text, elapsed_ms: Date.now() - started };
  },

  mid_stream_error: faulty("mockrouter/mid-stream-error"),
  malformed_chunk: faulty("mockrouter/malformed-chunk"),
  disconnect: faulty("mockrouter/disconnect"),
  // `node-truncate` (added by the test for this case's key): the stream ends cleanly before response.completed.
  truncate: faulty("mockrouter/node-truncate"),

  // The low-level way: iterate `responses.create({stream: true})` yourself, on the in-band error.
  async mid_stream_error_raw({ baseURL, key }) {
    const events = [];
    try {
      const stream = await client(baseURL, key, { maxRetries: 0 }).responses.create({
        model: "mockrouter/mid-stream-error",
        input: "Stream until it breaks",
        stream: true,
      });
      for await (const event of stream) events.push(event);
    } catch (err) {
      return { events, ...raisedBy(err) };
    }
    return { events, raised: null };
  },
});
