// The `openai` npm package against mockrouter's default (anyrouter) dialect; see harness.mjs.
import OpenAI from "openai";

import { collectChunks, describeError, run, TOOL_RESULT, WEATHER_PARAMETERS } from "./harness.mjs";

const client = (baseURL, apiKey) => new OpenAI({ baseURL, apiKey, timeout: 20000 });
const user = (content) => [{ role: "user", content }];

await run({
  async chat({ baseURL, key }) {
    const reply = await client(baseURL, key).chat.completions.create({
      model: "openai/gpt-4o-mini",
      messages: user("Hello from node openai"),
    });
    const choice = reply.choices[0];
    return { id: reply.id, model: reply.model, content: choice.message.content, finish_reason: choice.finish_reason, usage: reply.usage };
  },

  // `slow` echoes the prompt after SSE keep-alive comments (": OPENROUTER PROCESSING"); speed 0 skips its delays.
  async stream({ baseURL, key }) {
    const stream = await client(baseURL, key).chat.completions.create({
      model: "mockrouter/slow",
      messages: user("Stream me, node openai"),
      stream: true,
      stream_options: { include_usage: true },
    });
    return collectChunks(stream, "finish_reason");
  },

  async tool_call({ baseURL, key }) {
    const openai = client(baseURL, key);
    const tools = [{ type: "function", function: { name: "get_weather", parameters: WEATHER_PARAMETERS } }];
    const messages = user("What is the weather in Paris?");
    const first = await openai.chat.completions.create({ model: "mockrouter/tool-call", messages, tools });
    const message = first.choices[0].message;
    const call = message.tool_calls[0];
    messages.push(message, { role: "tool", tool_call_id: call.id, content: TOOL_RESULT });
    const second = await openai.chat.completions.create({ model: "mockrouter/tool-call", messages, tools });
    return {
      first_finish_reason: first.choices[0].finish_reason,
      tool_calls: message.tool_calls.map((c) => ({ id: c.id, type: c.type, name: c.function.name, arguments: JSON.parse(c.function.arguments) })),
      content: second.choices[0].message.content,
      finish_reason: second.choices[0].finish_reason,
    };
  },

  async error({ baseURL, key }) {
    try {
      await client(baseURL, key).chat.completions.create({ model: "mockrouter/insufficient-credits", messages: user("Hi") });
    } catch (err) {
      return { raised: describeError(err), is_api_error: err instanceof OpenAI.APIError, error_body: err.error ?? null };
    }
    throw new Error("no error raised");
  },

  async rate_limited({ baseURL, key }) {
    const started = Date.now();
    const reply = await client(baseURL, key).chat.completions.create({
      model: "mockrouter/rate-limited",
      messages: user("Worth the wait"),
    });
    return { content: reply.choices[0].message.content, elapsed_ms: Date.now() - started };
  },
});
